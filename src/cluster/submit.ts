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
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { reasonSlots } from '../constants.js';
import { reasonOf } from '../domain/rejection.js';
import { columnsOf } from '../engine/batch.js';
import { describeError, inputError, runFailure, usageError } from '../errors.js';
import { openInput, readRowChunks, type ReadStats } from '../io/csv-reader.js';
import { formatAccounts, formatRejection, rejectsHeader } from '../io/csv-writer.js';
import { fingerprint } from '../journal/manifest.js';
import { replayPostgres } from '../journal/postgres/run.js';
import { PostgresJournalStore } from '../journal/postgres/store.js';
import { parsePostgresUrl, redactUrl } from '../journal/postgres/url.js';
import { ChunkRouter } from '../pipeline/router.js';
import { ClusterControl } from './control.js';
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
}

export interface ClusterOutputs {
  readonly accountsCsv: string;
  readonly rejectsCsv: string | undefined;
}

export interface SubmitResult {
  readonly outputs: ClusterOutputs | undefined;
  readonly rowsRead: number;
  readonly batches: number;
  readonly publishMs: number;
  readonly totalMs: number;
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
    await ensureStream(nc, run);
    const js = jetstream(nc);
    const published = await publishInput(options, js, nc.info?.max_payload ?? 1 << 20, shards);
    await control.markPublished(run, published.batches, published.lastLines);
    const publishMs = performance.now() - started;
    log.info(
      {
        rows: published.rowsRead,
        batches: published.batches.reduce((a, b) => a + b, 0),
        publishMs: Math.round(publishMs),
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
      };
    await waitForShards(control, run, log);
    const outputs = await clusterOutputs(
      control,
      options.journalUrl,
      run,
      options.wantRejects ? options.input : undefined,
    );
    return {
      outputs,
      rowsRead: published.rowsRead,
      batches: sum(published.batches),
      publishMs,
      totalMs: performance.now() - started,
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

async function ensureStream(nc: NatsConnection, run: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = streamOf(run);
  try {
    await jsm.streams.info(name);
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
): Promise<{ batches: number[]; lastLines: number[]; rowsRead: number }> {
  const { run } = options;
  const source = await openInput(options.input);
  const maxBytes = Math.max(4096, maxPayload - headerRoomBytes);
  const batches = new Array<number>(shards).fill(0);
  const lastLines = new Array<number>(shards).fill(0);
  const tails = new Array<Promise<void>>(shards).fill(Promise.resolve());
  const waiting: Promise<void>[] = [];
  let failure: unknown;
  let rowsRead = 0;
  try {
    const router = new ChunkRouter(shards, source.name, false);
    const stats: ReadStats = { lines: 0, quotedLineBreaks: 0 };
    for await (const chunk of readRowChunks(source, { delimiter: ',' }, stats)) {
      const routed = router.route(chunk);
      rowsRead += routed.dataRows;
      routed.batches.forEach((batch, shard) => {
        if (batch === undefined) return;
        const pieces = encodeBatch(batch, maxBytes);
        router.recycle(batch.buffer);
        for (const piece of pieces) {
          const k = batches[shard]!++;
          lastLines[shard] = piece.lastLine;
          const h = headers();
          h.set(header.batch, String(k));
          h.set(header.firstLine, String(piece.firstLine));
          h.set(header.lastLine, String(piece.lastLine));
          const sent = tails[shard]!.then(() =>
            publishOne(js, subjectOf(run, shard), piece.data, batchMsgId(run, shard, k), h, options.log),
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
      await publishOne(js, subjectOf(run, shard), new Uint8Array(0), endMsgId(run, shard), h, options.log);
    }
    return { batches, lastLines, rowsRead };
  } finally {
    await Promise.allSettled(waiting);
    await source.close();
  }
}

/** Publishes until the server stores it (a PubAck), retrying a lost connection for publishRetryMs. */
async function publishOne(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  msgID: string,
  h: ReturnType<typeof headers>,
  log: Logger,
): Promise<void> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await js.publish(subject, data, { msgID, headers: h, timeout: 5000 });
      return;
    } catch (error) {
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
  const replayed = await replayPostgres(fencedJournalUrl(journalUrl, run, undefined));
  const accountsCsv = formatAccounts([...replayed.accounts].map(([client, a]) => ({ client, ...a })));
  if (input === undefined) return { accountsCsv, rejectsCsv: undefined };
  return { accountsCsv, rejectsCsv: await rejectsOf(control, run, runRow.shards, input) };
}

async function rejectsOf(control: ClusterControl, run: string, shards: number, input: string): Promise<string> {
  const rejected = await control.rejectedLines(run);
  const source = await openInput(input);
  const parts: string[] = [rejectsHeader];
  try {
    const router = new ChunkRouter(shards, source.name, true);
    for await (const chunk of readRowChunks(source, { delimiter: ',' }, { lines: 0, quotedLineBreaks: 0 })) {
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
