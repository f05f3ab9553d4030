/** A finished run's outputs, from its journal: the merged accounts and the rejected rows (submit's end, `payments result`). */
import type { RejectionReason } from '../domain/rejection.js';
import { txTypes } from '../domain/transaction.js';
import { columnsOf, type TxBatch } from '../engine/batch.js';
import { describeError, inputError, runFailure, usageError } from '../errors.js';
import { openInput } from '../io/csv-reader.js';
import { formatAccounts, rejectsHeader } from '../io/csv-writer.js';
import { fingerprintWhole, inputChangedWhileRead, inputDiffers } from '../journal/manifest.js';
import { replayPostgres } from '../journal/postgres/run.js';
import { PostgresJournalStore } from '../journal/postgres/store.js';
import type { JournalKeyring } from '../journal/seal.js';
import { parsePostgresUrl, redactUrl } from '../journal/postgres/url.js';
import { runPipeline } from '../pipeline/pipeline.js';
import type { BatchDone, BatchSink } from '../pipeline/sink.js';
import { ClusterControl, type RunRow } from './control.js';
import { fencedJournalUrl } from './schema.js';

export interface ClusterOutputs {
  readonly accountsCsv: string;
  readonly rejectsCsv: string | undefined;
  /** What the run counted (submit's --report and --metrics); the row counts only when the input was read again. */
  readonly counts: RunCounts;
}

export interface RunCounts {
  readonly accounts: number;
  readonly lockedAccounts: number;
  /** Rows of the input and the rejected ones by reason: known once the input is read again for the rejected rows. */
  readonly rows?: {
    readonly read: number;
    readonly byType: Record<string, number>;
    readonly rejectedByReason: Record<RejectionReason, number>;
  };
}

/**
 * The merged accounts of a finished run, from its journal (each partition's final snapshot), and
 * when `input` is given, the rejected rows: malformed rows found by routing the input again, and
 * rows the engine rejected as the journal records them, echoed as read, in input order.
 */
export async function clusterOutputs(
  control: ClusterControl,
  journalUrl: string,
  run: string,
  input: string | undefined,
  keys: JournalKeyring = [],
  /** The journal a submit published for: the run's must still be that one, not one made again since. */
  journalId?: number,
): Promise<ClusterOutputs> {
  const runRow = await control.readRun(run);
  // A submit's run gone, or of another journal now, while it waited: its journal was removed.
  if (journalId !== undefined && runRow?.journalId !== journalId) throw journalReplaced(run);
  if (runRow === undefined) throw usageError(`run ${run}: not found in ${redactUrl(journalUrl)}`);
  if (runRow.inputChanged) throw inputChangedRefusal(run);
  const lastLines = runRow.lastLines;
  if (!runRow.published || lastLines === null)
    throw usageError(`run ${run}: not published completely yet; run submit again`);
  // The leases first: a shard finished by then has its last commit durable before, so a shard
  // finishing between the two reads is never taken for one finished short.
  const leases = await control.leases(run);
  const committed = await control.committedLines(run, runRow.shards);
  const behind = committed.findIndex((line, shard) => line < lastLines[shard]!);
  if (behind >= 0 && leases.find((l) => l.shard === behind)?.finished)
    throw runFailure(
      `run ${run}: shard ${behind} is finished at line ${committed[behind]}, but its input was published up to line ${lastLines[behind]}: it accepted an end marker that was not the run's (forged, or left in the stream); its accounts cannot be trusted (seal runs whose subjects others can publish to: --journal-key-file)`,
    );
  if (behind >= 0)
    throw usageError(
      `run ${run}: shard ${behind} has applied up to line ${committed[behind]} of ${lastLines[behind]}; start nodes (payments node) and try again`,
    );
  // Every line applied is not enough: a shard is done once its owner has checked it against the end
  // marker (its record count), and a shard short of a batch its stream lost is never marked so.
  const open = leases.find((l) => !l.finished);
  if (open !== undefined)
    throw usageError(
      `run ${run}: shard ${open.shard} is not finished (its owner has not accepted its end marker; see the nodes' logs); start nodes (payments node) and try again`,
    );
  const replayed = await replayPostgres(fencedJournalUrl(journalUrl, run, undefined), undefined, keys);
  const accounts = [...replayed.accounts].map(([client, a]) => ({ client, ...a }));
  const accountsCsv = formatAccounts(accounts);
  const counts = { accounts: accounts.length, lockedAccounts: accounts.filter((a) => a.locked).length };
  if (input === undefined) return { accountsCsv, rejectsCsv: undefined, counts };
  const { csv, rows } = await rejectsOf(control, runRow, input, keys);
  return { accountsCsv, rejectsCsv: csv, counts: { ...counts, rows } };
}

/** A submit's run whose journal was removed (and maybe made again by another submit) while it waited. */
export const journalReplaced = (run: string) =>
  runFailure(
    `run ${run}: its journal was removed while this submit waited (and maybe made again by another submit, for its own file): what this submit published is in no journal; submit the file again`,
  );

const inputChangedRefusal = (run: string) =>
  usageError(
    `run ${run}: its input changed while a submit read it, so its batches are of no one file and it gives no accounts; submit the file under a new --run`,
  );

/** The rejected rows, reading the input again with the delimiter the run was submitted with. */
async function rejectsOf(control: ClusterControl, runRow: RunRow, input: string, keys: JournalKeyring) {
  const { shards, delimiter } = runRow;
  const verdicts = new JournalVerdicts(await control.rejectedLines(runRow.name, keys));
  const source = await openInput(input);
  const parts: string[] = [rejectsHeader];
  const rejects = { write: (text: string) => void parts.push(text) };
  try {
    const piped = await runPipeline({ source, shards, delimiter, sniffDelimiter: false, rejects }, verdicts);
    const byType = Object.fromEntries(txTypes.map((type, code) => [type, piped.router.rowsByType[code]!]));
    return { csv: parts.join(''), rows: { read: piped.rowsRead, byType, rejectedByReason: piped.rejectedByReason } };
  } finally {
    await source.close();
  }
}

/** The engine's verdicts as the journal recorded them (line → reason): a batch's rows are looked up, not applied. */
class JournalVerdicts implements BatchSink {
  constructor(private readonly rejected: ReadonlyMap<number, number>) {}

  accept(_shard: number, batch: TxBatch): BatchDone {
    const lines = columnsOf(batch.buffer).lines;
    const pairs: number[] = [];
    for (let i = 0; i < batch.count; i++) {
      const reason = this.rejected.get(lines[i]!);
      if (reason !== undefined) pairs.push(i, reason);
    }
    return { buffer: batch.buffer, rejected: pairs };
  }

  async end(): Promise<void> {}
}

/** `payments result`: the outputs of a finished run, later, from anywhere with the database. */
export async function result(
  journalUrl: string,
  run: string,
  input: string | undefined,
  keys: JournalKeyring = [],
): Promise<ClusterOutputs> {
  const control = new ClusterControl(
    parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)),
    `payments result ${run}`,
  );
  try {
    if (input !== undefined) {
      const store = new PostgresJournalStore(parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)));
      try {
        const manifest = await store.read();
        const print = await fingerprintWhole(input).catch((error: unknown) => {
          throw inputError(`--input ${input}: ${describeError(error)}`);
        });
        if (manifest.input.crc === inputChangedWhileRead) throw inputChangedRefusal(run);
        if (inputDiffers(manifest.input, print) !== undefined)
          throw usageError(
            `--input ${input}: not the file run ${run} was submitted with (${manifest.input.name}, ${manifest.input.size} bytes)`,
          );
      } finally {
        await store.close();
      }
    }
    return await clusterOutputs(control, journalUrl, run, input, keys);
  } finally {
    await control.close();
  }
}

/** The path a run was submitted with (for `result --rejects` without --input). */
export async function submittedInput(journalUrl: string, run: string): Promise<string> {
  const store = new PostgresJournalStore(parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)));
  try {
    return (await store.read()).input.name;
  } finally {
    await store.close();
  }
}
