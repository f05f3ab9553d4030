/**
 * `payments submit`: parse and route the input exactly as a single-process run does (the same
 * ChunkRouter, the same batches), publish each shard's batches to the run's JetStream subject of
 * that shard, wait until every shard has applied its last batch, then print the merged accounts
 * (and the rejected rows), byte for byte what `payments FILE` prints.
 *
 * Publishing: a batch of a shard is sent only once the previous batch of that shard is stored
 * (its PubAck came back), so a shard's subject holds its batches in order even across a NATS
 * restart (a client re-sends what it buffered while reconnecting, which could otherwise overtake
 * a lost message); shards publish concurrently. At most `publishesPendingMax` batches wait in all
 * (backpressure: the reader stops). Every message has a de-duplication id (run.shard.batch): a
 * submit that died and runs again republishes from the start and JetStream stores nothing twice;
 * a node skips what its journal already holds in any case. After the last batch, each shard gets
 * an end marker carrying its batch count and last line.
 *
 * Backpressure through the stream: a shard's subject holds at most `maxLag` messages (JetStream's
 * max_msgs_per_subject with discard-new per subject), so the server refuses a publish to a shard
 * that lags that far behind. The stream keeps limits retention, and what it holds is made to
 * measure lag rather than history by trimming: while publishing, submit deletes each shard's
 * messages below the position its owner has committed (the lease's stream hint, which a new owner
 * resumes from, so nothing a node may still read is removed; a finished shard reads nothing more).
 * A refused publish is retried with the same message id after a bounded backoff, for as long as it
 * takes (a shard with no live owner makes submit wait, as the end of a run does), and logged. A
 * refused message was never stored, and the shard's next one waits for it: no node ever needs a
 * message that was not accepted. Work-queue or interest retention would remove a message when it
 * is acknowledged or delivered; the owner's position is its journal, not an ack, and a new owner
 * re-reads from the hint, so removing is done by the one who knows what is committed.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { reasonSlots } from '../constants.js';
import { reasonOf } from '../domain/rejection.js';
import { columnsOf } from '../engine/batch.js';
import { describeError, inputError, runFailure, usageError } from '../errors.js';
import { openInput, readRowChunks, type ReadStats } from '../io/csv-reader.js';
import type { DelimiterChoice } from '../io/delimiter.js';
import { formatAccounts, formatRejection, rejectsHeader } from '../io/csv-writer.js';
import { fingerprint } from '../journal/manifest.js';
import { replayPostgres } from '../journal/postgres/run.js';
import { PostgresJournalStore } from '../journal/postgres/store.js';
import { parsePostgresUrl, redactUrl } from '../journal/postgres/url.js';
import { ChunkRouter } from '../pipeline/router.js';
import { ClusterControl, type RunRow } from './control.js';
import { connectNats, type NatsSettings } from './nats.js';
import { batchMsgId, endMsgId, header, streamOf, subjectOf, subjectsOf } from './names.js';
import { fencedJournalUrl } from './shard-runner.js';
import { encodeBatch } from './wire.js';

/** Batches published or waiting to be, over all shards: the reader pauses beyond this. */
export const publishesPendingMax = 64;
/** How long one batch's publish is retried (NATS restarting) before submit gives up (exit 1). */
export const publishRetryMs = 60_000;
/** JetStream's de-duplication window for a run's stream: a re-run submit within it stores nothing twice. */
const duplicateWindowNs = 2 * 3600 * 1e9;
/** Room left in a message for its headers. */
const headerRoomBytes = 1024;
/** How often the subjects are trimmed while publishing (and at once when a publish is refused). */
const trimEveryMs = 500;
/** Longest wait between two tries of a publish refused because its shard lags. */
const lagRetryMaxMs = 1000;
/** JetStream's error code for "maximum messages per subject exceeded". */
const maxMsgsPerSubjectExceeded = 10077;

export interface SubmitOptions {
  readonly input: string;
  readonly run: string;
  readonly shards: number;
  readonly nats: Omit<NatsSettings, 'name'>;
  readonly journalUrl: string;
  readonly log: Logger;
  /** Return once published (do not wait for the nodes). */
  readonly detach: boolean;
  readonly wantRejects: boolean;
  /** Messages a shard's subject may hold before publishing to it waits (a new stream's limit). */
  readonly maxLag: number;
  /** The field delimiter, and whether the user chose it (else line 1 is checked for another). */
  readonly delimiter: DelimiterChoice;
  /** Delete the run's stream once the run is finished and its outputs are built. */
  readonly deleteStream?: boolean;
}

export interface ClusterOutputs {
  readonly accountsCsv: string;
  readonly rejectsCsv: string | undefined;
}

export interface SubmitResult {
  readonly outputs: ClusterOutputs | undefined;
  /** Rows read from the input; undefined when the run was complete already (nothing was read or sent). */
  readonly rowsRead: number | undefined;
  readonly batches: number;
  readonly publishMs: number;
  readonly totalMs: number;
  /** Time spent waiting for lagging shards (publishes refused by the per-subject limit). */
  readonly lagWaitMs: number;
}

export async function submit(options: SubmitOptions): Promise<SubmitResult> {
  const { run, log } = options;
  const started = performance.now();
  const journalUrl = fencedJournalUrl(options.journalUrl, run, undefined);
  const target = parsePostgresUrl(journalUrl);
  const control = new ClusterControl(target, `payments submit ${run}`);
  let nc: NatsConnection | undefined;
  try {
    await control.setup();
    const shards = await openRunJournal(options, target);
    await control.addRun(run, shards);
    nc = await connectNats({ ...options.nats, name: `payments submit ${run}` });
    const jsm = await jetstreamManager(nc);
    // The outputs of the finished run, from the journal; then its stream may go.
    const outputsOfRun = async () => {
      const outputs = await clusterOutputs(
        control,
        options.journalUrl,
        run,
        options.wantRejects ? options.input : undefined,
      );
      if (options.deleteStream) await deleteStream(jsm, run, log);
      return outputs;
    };
    if (!options.detach && (await runComplete(control, options))) {
      // Every shard applied its end marker: the journal alone answers, nothing is sent again.
      log.info({ run }, 'the run is complete: printing it from the journal (nothing is sent again)');
      return {
        outputs: await outputsOfRun(),
        rowsRead: undefined,
        batches: 0,
        publishMs: 0,
        totalMs: performance.now() - started,
        lagWaitMs: 0,
      };
    }
    await ensureStream(jsm, run, options.maxLag, log);
    const js = jetstream(nc);
    const trimmer = new SubjectTrimmer(control, jsm, run, shards, log);
    const published = await trimmer.during(() =>
      publishInput(options, js, nc!.info?.max_payload ?? 1 << 20, shards, trimmer, control),
    );
    await control.markPublished(run, published.batches, published.lastLines);
    const publishMs = performance.now() - started;
    log.info(
      {
        rows: published.rowsRead,
        batches: published.batches.reduce((a, b) => a + b, 0),
        publishMs: Math.round(publishMs),
        lagWaitMs: Math.round(trimmer.waitedMs),
      },
      'published',
    );
    if (options.detach)
      return {
        outputs: undefined,
        rowsRead: published.rowsRead,
        batches: sum(published.batches),
        publishMs,
        totalMs: publishMs,
        lagWaitMs: trimmer.waitedMs,
      };
    await waitForShards(control, run, log);
    return {
      outputs: await outputsOfRun(),
      rowsRead: published.rowsRead,
      batches: sum(published.batches),
      publishMs,
      totalMs: performance.now() - started,
      lagWaitMs: trimmer.waitedMs,
    };
  } finally {
    await nc?.close().catch(() => undefined);
    await control.close();
  }
}

/** The run's journal for this input (created, or checked to be for the same input); its shard count. */
async function openRunJournal(options: SubmitOptions, target: ReturnType<typeof parsePostgresUrl>): Promise<number> {
  const source = await openInput(options.input); // exit 2 when missing, before anything is created
  await source.close();
  const store = new PostgresJournalStore(target);
  try {
    const input = { name: options.input, ...(await fingerprint(options.input)) };
    const { manifest, resumed } = await store.openRun(input, options.shards);
    if (resumed)
      options.log.info(
        { run: options.run, shards: manifest.shards },
        'run exists: publishing again (stored batches are de-duplicated)',
      );
    return manifest.shards;
  } finally {
    await store.close();
  }
}

/** Whether the run was published whole and every shard has applied its end marker (read with this delimiter). */
async function runComplete(control: ClusterControl, options: SubmitOptions): Promise<boolean> {
  const row = await control.readRun(options.run);
  if (row === undefined || !row.published) return false;
  if (row.delimiter !== options.delimiter.delimiter && options.delimiter.explicit)
    throw usageError(
      `run ${options.run} was submitted with --delimiter ${delimiterName(row.delimiter)}; submit it with the same delimiter, or under another --run`,
    );
  return (await control.leases(options.run)).every((l) => l.finished);
}

/** Removes a finished run's stream (its journal keeps everything `result` and a second submit need). */
async function deleteStream(jsm: JetStreamManager, run: string, log: Logger): Promise<void> {
  try {
    await jsm.streams.delete(streamOf(run));
    log.info({ stream: streamOf(run) }, 'stream deleted (--delete-stream)');
  } catch (error) {
    if (!/not found/i.test(describeError(error)))
      throw runFailure(`nats: deleting stream ${streamOf(run)}: ${describeError(error)}`);
  }
}

async function ensureStream(jsm: JetStreamManager, run: string, maxLag: number, log: Logger): Promise<void> {
  const name = streamOf(run);
  try {
    const info = await jsm.streams.info(name);
    const limit = info.config.max_msgs_per_subject;
    if (limit !== maxLag)
      log.info({ stream: name, maxLag: limit > 0 ? limit : 'none' }, 'the run’s stream exists: its --max-lag stays');
    return;
  } catch (error) {
    if (!/not found/i.test(describeError(error))) throw runFailure(`nats: stream ${name}: ${describeError(error)}`);
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subjectsOf(run)],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: duplicateWindowNs,
      max_msgs_per_subject: maxLag,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    });
  } catch (error) {
    // Another submit of the same run created it first: fine.
    if (!/already in use|exists/i.test(describeError(error)))
      throw runFailure(`nats: creating stream ${name}: ${describeError(error)}`);
  }
}

async function publishInput(
  options: SubmitOptions,
  js: JetStreamClient,
  maxPayload: number,
  shards: number,
  trimmer: SubjectTrimmer,
  control: ClusterControl,
): Promise<{ batches: number[]; lastLines: number[]; rowsRead: number }> {
  const { run } = options;
  const { delimiter, explicit } = options.delimiter;
  let delimiterRecorded = false;
  const source = await openInput(options.input);
  const maxBytes = Math.max(4096, maxPayload - headerRoomBytes);
  const batches = new Array<number>(shards).fill(0);
  const lastLines = new Array<number>(shards).fill(0);
  const rowsByShard = new Array<number>(shards).fill(0);
  const tails = new Array<Promise<void>>(shards).fill(Promise.resolve());
  const waiting: Promise<void>[] = [];
  let failure: unknown;
  let rowsRead = 0;
  try {
    const router = new ChunkRouter(shards, source.name, false, delimiter, !explicit);
    const stats: ReadStats = { lines: 0, quotedLineBreaks: 0 };
    for await (const chunk of readRowChunks(source, { delimiter }, stats)) {
      const routed = router.route(chunk);
      rowsRead += routed.dataRows;
      if (!delimiterRecorded) {
        // The header passed its checks: a second submit of this run must cut the same batches.
        const recorded = await control.recordDelimiter(run, delimiter);
        if (recorded !== delimiter)
          throw usageError(
            `run ${run} was submitted with --delimiter ${delimiterName(recorded)} (its batches are in the stream); submit it with the same delimiter, or under another --run`,
          );
        delimiterRecorded = true;
      }
      routed.batches.forEach((batch, shard) => {
        if (batch === undefined) return;
        const pieces = encodeBatch(batch, maxBytes);
        router.recycle(batch.buffer);
        for (const piece of pieces) {
          const k = batches[shard]!++;
          lastLines[shard] = piece.lastLine;
          rowsByShard[shard]! += piece.count;
          const h = headers();
          h.set(header.batch, String(k));
          h.set(header.firstLine, String(piece.firstLine));
          h.set(header.lastLine, String(piece.lastLine));
          const sent = tails[shard]!.then(() =>
            publishOne(
              js,
              shard,
              subjectOf(run, shard),
              piece.data,
              batchMsgId(run, shard, k),
              h,
              options.log,
              trimmer,
            ),
          );
          sent.catch((error: unknown) => (failure ??= error));
          tails[shard] = sent;
          waiting.push(sent);
        }
      });
      while (waiting.length >= publishesPendingMax) await waiting.shift()!.catch(() => undefined);
      if (failure !== undefined) throw failure;
    }
    await Promise.all(tails);
    for (let shard = 0; shard < shards; shard++) {
      const h = headers();
      h.set(header.end, String(batches[shard]));
      h.set(header.lastLine, String(lastLines[shard]));
      h.set(header.rows, String(rowsByShard[shard]));
      await publishOne(
        js,
        shard,
        subjectOf(run, shard),
        new Uint8Array(0),
        endMsgId(run, shard),
        h,
        options.log,
        trimmer,
      );
    }
    return { batches, lastLines, rowsRead };
  } finally {
    await Promise.allSettled(waiting);
    await source.close();
  }
}

/**
 * Publishes until the server stores it (a PubAck): a lost connection is retried for publishRetryMs;
 * a refusal because the shard lags (its subject is full) is retried, same id, until it is accepted.
 */
async function publishOne(
  js: JetStreamClient,
  shard: number,
  subject: string,
  data: Uint8Array,
  msgID: string,
  h: ReturnType<typeof headers>,
  log: Logger,
  trimmer: SubjectTrimmer,
): Promise<void> {
  let started = Date.now();
  let lagging = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const ack = await js.publish(subject, data, { msgID, headers: h, timeout: 5000 });
      trimmer.stored(shard, ack.seq);
      if (lagging > 0) trimmer.waited(subject, performance.now() - lagging);
      return;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === maxMsgsPerSubjectExceeded) {
        lagging ||= performance.now();
        await trimmer.refused(subject, attempt, performance.now() - lagging);
        await new Promise((r) => setTimeout(r, Math.min(lagRetryMaxMs, 25 * 2 ** Math.min(attempt, 10))));
        started = Date.now(); // the server is there: the connection bound starts again
        continue;
      }
      const said = describeError(error);
      if (/authori[sz]ation|permission/i.test(said))
        throw usageError(`nats: publishing to ${subject} refused (${said})`);
      if (Date.now() - started > publishRetryMs)
        throw runFailure(
          `nats: could not publish to ${subject} for ${publishRetryMs / 1000} s (${said}); run the same submit again once the server is back (stored batches are de-duplicated)`,
        );
      const delay = Math.min(2000, 100 * 2 ** attempt) * Math.random();
      if (attempt === 0) log.warn({ subject, err: said }, 'publish failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * Keeps each shard's subject down to what its owner has not committed yet, so that the per-subject
 * limit measures lag: deletes the messages this submit stored (their sequence numbers come back in
 * the PubAcks, duplicates included) below the lease's stream hint (a new owner resumes at the hint,
 * so that message is kept), and every one of a finished shard. Messages are deleted one by one
 * rather than purged by subject: a subject purge also moves the server's consumers of that subject
 * forward, and a consumer must only ever be moved by what it reads. Runs every trimEveryMs while
 * publishing, and at once when a publish is refused. A failure is left to the next pass (NATS or
 * PostgreSQL restarting shows up in the publishes themselves).
 */
export class SubjectTrimmer {
  /** Per shard: sequence numbers of its stored messages not deleted yet, in order. */
  private readonly inStream: number[][];
  private trimming: Promise<void> | undefined;
  private lastTrimMs = 0;
  private readonly reported = new Map<string, number>();
  waitedMs = 0;

  constructor(
    private readonly control: ClusterControl,
    private readonly jsm: JetStreamManager,
    private readonly run: string,
    shards: number,
    private readonly log: Logger,
  ) {
    this.inStream = Array.from({ length: shards }, () => []);
  }

  /** Runs `work` with a trim every trimEveryMs beside it. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => void this.trim(), trimEveryMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      await this.trimming;
    }
  }

  /** A message of `shard` is in the stream at `seq` (a PubAck, or a duplicate's). */
  stored(shard: number, seq: number): void {
    const seqs = this.inStream[shard]!;
    if (seqs[seqs.length - 1] !== seq) seqs.push(seq);
  }

  /** A publish to `subject` was refused (full): trim now (at most once per pass), log now and then. */
  async refused(subject: string, attempt: number, waitingMs: number): Promise<void> {
    const last = this.reported.get(subject) ?? -Infinity;
    if (performance.now() - last >= 5000) {
      this.reported.set(subject, performance.now());
      this.log.info(
        { subject, waitingMs: Math.round(waitingMs), attempt },
        'shard lags: its subject is full (--max-lag); waiting for its owner to commit',
      );
    }
    if (performance.now() - this.lastTrimMs >= lagRetryMaxMs / 4) await this.trim();
  }

  waited(subject: string, ms: number): void {
    this.waitedMs += ms;
    this.reported.delete(subject);
  }

  trim(): Promise<void> {
    this.trimming ??= this.trimOnce().finally(() => (this.trimming = undefined));
    return this.trimming;
  }

  private async trimOnce(): Promise<void> {
    this.lastTrimMs = performance.now();
    try {
      const stream = streamOf(this.run);
      for (const lease of await this.control.leases(this.run)) {
        const seqs = this.inStream[lease.shard]!;
        const below = lease.finished ? Infinity : lease.streamSeq;
        while (seqs.length > 0 && seqs[0]! < below) {
          await this.jsm.streams.deleteMessage(stream, seqs[0]!, false).catch((error: unknown) => {
            if (!/no message found|not found/i.test(describeError(error))) throw error;
          });
          seqs.shift();
        }
      }
    } catch (error) {
      this.log.debug({ err: describeError(error) }, 'trimming the stream failed; next pass');
    }
  }
}

/** Polls the leases until every shard of the run is finished (applied its end marker). */
async function waitForShards(control: ClusterControl, run: string, log: Logger): Promise<void> {
  let lastReport = 0;
  for (;;) {
    const leases = await control.leases(run);
    const finished = leases.filter((l) => l.finished).length;
    if (finished === leases.length) return;
    if (Date.now() - lastReport > 5000) {
      const unowned = leases.filter((l) => !l.finished && !l.live).length;
      log.info(
        { finished, shards: leases.length, unowned },
        unowned > 0 ? 'waiting for nodes (some shards have no live owner)' : 'waiting for shards',
      );
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
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
): Promise<ClusterOutputs> {
  const runRow = await control.readRun(run);
  if (runRow === undefined) throw usageError(`run ${run}: not found in ${redactUrl(journalUrl)}`);
  const lastLines = runRow.lastLines;
  if (!runRow.published || lastLines === null)
    throw usageError(`run ${run}: not published completely yet; run submit again`);
  const committed = await control.committedLines(run, runRow.shards);
  const behind = committed.findIndex((line, shard) => line < lastLines[shard]!);
  if (behind >= 0)
    throw usageError(
      `run ${run}: shard ${behind} has applied up to line ${committed[behind]} of ${lastLines[behind]}; start nodes (payments node) and try again`,
    );
  // Every line applied is not enough: a shard is done once its owner has checked it against the end
  // marker (its record count), and a shard short of a batch its stream lost is never marked so.
  const open = (await control.leases(run)).find((l) => !l.finished);
  if (open !== undefined)
    throw usageError(
      `run ${run}: shard ${open.shard} is not finished (its owner has not accepted its end marker; see the nodes' logs); start nodes (payments node) and try again`,
    );
  const replayed = await replayPostgres(fencedJournalUrl(journalUrl, run, undefined));
  const accountsCsv = formatAccounts([...replayed.accounts].map(([client, a]) => ({ client, ...a })));
  if (input === undefined) return { accountsCsv, rejectsCsv: undefined };
  return { accountsCsv, rejectsCsv: await rejectsOf(control, runRow, input) };
}

/** The rejected rows, reading the input again with the delimiter the run was submitted with. */
async function rejectsOf(control: ClusterControl, runRow: RunRow, input: string): Promise<string> {
  const { name: run, shards, delimiter } = runRow;
  const rejected = await control.rejectedLines(run);
  const source = await openInput(input);
  const parts: string[] = [rejectsHeader];
  try {
    const router = new ChunkRouter(shards, source.name, true, delimiter, false);
    for await (const chunk of readRowChunks(source, { delimiter }, { lines: 0, quotedLineBreaks: 0 })) {
      const routed = router.route(chunk);
      const keys = routed.rejectedKeys;
      routed.batches.forEach((batch, shard) => {
        if (batch === undefined) return;
        const cols = columnsOf(batch.buffer);
        const rows = routed.rowIndexes![shard]!;
        for (let i = 0; i < batch.count; i++) {
          const reason = rejected.get(cols.lines[i]!);
          if (reason !== undefined) keys.push(rows[i]! * reasonSlots + reason);
        }
        router.recycle(batch.buffer);
      });
      keys.sort((a, b) => a - b);
      let text = '';
      for (const key of keys) {
        const row = routed.rowAt!(Math.floor(key / reasonSlots));
        text += formatRejection(row.line, router.echo(row.fields), reasonOf(key % reasonSlots));
      }
      parts.push(text);
    }
  } finally {
    await source.close();
  }
  return parts.join('');
}

/** `payments result`: the outputs of a finished run, later, from anywhere with the database. */
export async function result(journalUrl: string, run: string, input: string | undefined): Promise<ClusterOutputs> {
  const control = new ClusterControl(
    parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)),
    `payments result ${run}`,
  );
  try {
    if (input !== undefined) {
      const store = new PostgresJournalStore(parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)));
      try {
        const manifest = await store.read();
        const print = await fingerprint(input).catch((error: unknown) => {
          throw inputError(`--input ${input}: ${describeError(error)}`);
        });
        if (
          print.size !== manifest.input.size ||
          print.headCrc !== manifest.input.headCrc ||
          print.tailCrc !== manifest.input.tailCrc
        )
          throw usageError(
            `--input ${input}: not the file run ${run} was submitted with (${manifest.input.name}, ${manifest.input.size} bytes)`,
          );
      } finally {
        await store.close();
      }
    }
    return await clusterOutputs(control, journalUrl, run, input);
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

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const delimiterName = (d: string): string => (d === '\t' ? 'tab' : `'${d}'`);
