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
 *
 * Liveness: submit never waits forever. It gives up (exit 1) at its --deadline, naming the shards
 * not finished and why, or as soon as a shard is quarantined (a batch missing or damaged, its
 * stream gone, too many failures), naming the shard and the cause. Running the same submit again
 * repairs a quarantined shard: its subject is purged, its quarantine lifted, and the batches its
 * journal lacks are published again under message ids of this submit (the de-duplication window
 * would drop copies under the old ids), then its end marker.
 *
 * Here: the run registered, published, waited for. jetstream-sink.ts runs the pipeline into the
 * stream, publish.ts publishes, stream.ts creates and trims the stream, outputs.ts builds the
 * outputs from the journal.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { natsPayloadDefaultBytes, shardsPollMs, waitLogEveryMs } from '../constants.js';
import { describeError, runFailure } from '../errors.js';
import type { DelimiterChoice } from '../io/delimiter.js';
import { checkRereadable, fingerprintWhole } from '../journal/manifest.js';
import { PostgresJournalStore } from '../journal/postgres/store.js';
import { keyForJournal, type JournalKey, type JournalKeyring } from '../journal/seal.js';
import { traced } from '../ops/tracing.js';
import { checkInputStart } from '../pipeline/pipeline.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';
import { ClusterControl } from './control.js';
import type { LeaseRow } from './leases.js';
import { streamOf, subjectOf } from './names.js';
import { quarantineStarvedShards } from './starved.js';
import { connectNats, type NatsSettings } from './nats.js';
import { clusterOutputs, journalReplaced, type ClusterOutputs } from './outputs.js';
import { publishInput } from './jetstream-sink.js';
import { messageSealer } from './message-seal.js';
import { delimiterMismatch, type Repair } from './publish.js';
import { fencedJournalUrl } from './schema.js';
import { deleteStream, ensureStream, purgeEarlierRun, quarantineFailure, SubjectTrimmer } from './stream.js';

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
  /** How long submit may take, publishing and waiting for the nodes (--deadline). */
  readonly deadlineMs: number;
  /** Journal keys: a new run is sealed with the first (its journal, and every message: message-seal.ts). */
  readonly keys?: JournalKeyring;
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

export function submit(options: SubmitOptions): Promise<SubmitResult> {
  const attributes = { 'payments.run': options.run, 'payments.input': options.input };
  return traced('payments.submit', attributes, () => submitRun(options));
}

async function submitRun(options: SubmitOptions): Promise<SubmitResult> {
  const { run, log } = options;
  const started = performance.now();
  const target = parsePostgresUrl(fencedJournalUrl(options.journalUrl, run, undefined));
  // A missing input, a pipe, or one refused at its first lines, is exit 2 before any server is asked.
  await checkRereadable(options.input);
  await checkInputStart(options.input, {
    delimiter: options.delimiter.delimiter,
    sniffDelimiter: !options.delimiter.explicit,
  });
  // A lost control plane is said once, when the retries begin (the bound is journal's retry_seconds).
  const control = new ClusterControl(target, `payments submit ${run}`, (attempt, _delay, error) => {
    if (attempt === 1)
      log.warn(
        { err: describeError(error) },
        `lost the control plane's server; retrying for up to ${target.retrySeconds} s`,
      );
  });
  let nc: NatsConnection | undefined;
  try {
    await control.setup();
    // Before the run is registered: a NATS that cannot be reached must not leave a run the nodes
    // would claim and quarantine (its stream never made).
    nc = await connectNats({ ...options.nats, name: `payments submit ${run}` });
    const { shards, sealKey, journalId, resumed, inputCrc } = await openRunJournal(options, target);
    const jsm = await jetstreamManager(nc);
    if (!resumed) {
      // A new journal under a name used before: what the earlier run left is not of this one.
      const earlierRun = await control.forgetEarlierRun(run);
      if (earlierRun) log.warn({ run }, "removed an earlier run's control rows (its journal was gone)");
      await purgeEarlierRun(jsm, run, { journal: journalId, shards, earlierRun }, log);
    }
    await control.addRun(run, shards);
    const submitNo = await control.beginSubmit(run, options.deadlineMs);
    const deadlineAt = Date.now() + options.deadlineMs;
    // The outputs of the finished run, from the journal; then its stream may go.
    const outputsOfRun = async () => {
      const input = options.wantRejects ? options.input : undefined;
      const outputs = await clusterOutputs(control, options.journalUrl, run, input, options.keys, journalId);
      if (options.deleteStream) await deleteStream(jsm, run, log);
      return outputs;
    };
    if (!options.detach && (await runComplete(control, options))) {
      // Every shard applied its end marker: the journal alone answers, nothing is sent again.
      log.info({ run }, 'the run is complete: printing it from the journal (nothing is sent again)');
      const outputs = await outputsOfRun();
      const totalMs = performance.now() - started;
      return { outputs, rowsRead: undefined, batches: 0, publishMs: 0, totalMs, lagWaitMs: 0 };
    }
    const sent = await publishRun(
      { ...options, deadlineAt, submitNo, sealKey, journalId, inputCrc },
      nc,
      jsm,
      control,
      shards,
      started,
    );
    if (options.detach) return { outputs: undefined, ...sent, totalMs: sent.publishMs };
    // Now and then while it waits: its journal still the run's, and every shard still finishable.
    const check = async () => {
      if ((await control.readRun(run))?.journalId !== journalId) throw journalReplaced(run);
      // A marker lost since it was published: quarantined, named at the next poll. A NATS that does
      // not answer now is tried again next time, as the nodes ride out its restart.
      await quarantineStarvedShards({ ...options, journalId }, jsm, control).catch((error: unknown) =>
        log.debug({ err: describeError(error) }, 'looking for shards without an end marker failed; next time'),
      );
    };
    await traced('payments.wait', { 'payments.run': run }, () => waitForShards(control, options, deadlineAt, check));
    return { outputs: await outputsOfRun(), ...sent, totalMs: performance.now() - started };
  } finally {
    await nc?.close().catch(() => undefined);
    await control.close();
  }
}

/** Publishes the whole input to the run's stream (created if need be) and records it published. */
async function publishRun(
  options: SubmitOptions & {
    deadlineAt: number;
    submitNo: number;
    sealKey: JournalKey | undefined;
    journalId: number;
    inputCrc?: number;
  },
  nc: NatsConnection,
  jsm: JetStreamManager,
  control: ClusterControl,
  shards: number,
  started: number,
): Promise<Omit<SubmitResult, 'outputs' | 'totalMs'> & { rowsRead: number }> {
  const created = await ensureStream(jsm, options.run, options.maxLag, options.log);
  const reset = await control.adoptStream(options.run, created);
  if (reset.length > 0)
    options.log.warn(
      { run: options.run, shards: reset },
      "the run's stream is new: its unfinished shards read it from its start (their owners fenced)",
    );
  const js = jetstream(nc);
  const trimmer = new SubjectTrimmer(control, jsm, options.run, shards, options.log);
  trimmer.adopt(created);
  const maxPayload = nc.info?.max_payload ?? natsPayloadDefaultBytes;
  await control.publishing(options.run, true); // before its own look for starved shards: see starved.ts
  let published: Awaited<ReturnType<typeof publishInput>>;
  try {
    const repair = await prepareRepair(options, jsm, control, shards);
    const seal = options.sealKey && messageSealer(options.sealKey, options.run);
    const target = { js, maxPayload, shards, journal: options.journalId, trimmer, control, repair, seal };
    published = await trimmer.during(() => publishInput(options, target));
    await control.markPublished(options.run, published.batches, published.lastLines);
  } finally {
    await control.publishing(options.run, false).catch(() => undefined);
  }
  const publishMs = performance.now() - started;
  const batches = published.batches.reduce((a, b) => a + b, 0);
  options.log.info(
    { rows: published.rowsRead, batches, publishMs: Math.round(publishMs), lagWaitMs: Math.round(trimmer.waitedMs) },
    'published',
  );
  return { rowsRead: published.rowsRead, batches, publishMs, lagWaitMs: trimmer.waitedMs };
}

/**
 * The run's journal for this input (created, sealed when keys are given, or checked to be for the
 * same input and sealed likewise); its shard count, and the key its messages are sealed with.
 */
async function openRunJournal(
  options: SubmitOptions,
  target: ReturnType<typeof parsePostgresUrl>,
): Promise<{
  shards: number;
  sealKey: JournalKey | undefined;
  journalId: number;
  resumed: boolean;
  inputCrc?: number;
}> {
  const store = new PostgresJournalStore(target, { keys: options.keys ?? [] });
  try {
    // The whole input's CRC too: a cluster's batches carry no input proofs (decision 88).
    const input = { name: options.input, ...(await fingerprintWhole(options.input)) };
    const { manifest, resumed } = await store.openRun(input, options.shards);
    if (resumed)
      options.log.info(
        { run: options.run, shards: manifest.shards },
        'run exists: publishing again (stored batches are de-duplicated)',
      );
    const sealKey = manifest.seal && keyForJournal(store.where, manifest.seal, options.keys);
    return { shards: manifest.shards, sealKey, journalId: manifest.id, resumed, inputCrc: input.crc };
  } finally {
    await store.close();
  }
}

/** Whether the run was published whole and every shard has applied its end marker (read with this delimiter). */
async function runComplete(control: ClusterControl, options: SubmitOptions): Promise<boolean> {
  const row = await control.readRun(options.run);
  if (row === undefined || !row.published) return false;
  if (row.delimiter !== options.delimiter.delimiter && options.delimiter.explicit)
    throw delimiterMismatch(options.run, row.delimiter);
  return (await control.leases(options.run)).every((l) => l.finished);
}

/**
 * The run's quarantined shards are repaired by this submit: their subjects purged (nobody reads a
 * quarantined shard), their quarantine lifted (their next owner reads the subject from its start),
 * and only what their journal lacks published again. Undefined when none is quarantined.
 */
async function prepareRepair(
  options: SubmitOptions & { submitNo: number; journalId: number },
  jsm: JetStreamManager,
  control: ClusterControl,
  shards: number,
): Promise<Repair | undefined> {
  const { run, log } = options;
  await quarantineStarvedShards(options, jsm, control);
  const quarantined = (await control.leases(run)).filter((l) => l.quarantined);
  if (quarantined.length === 0) return undefined;
  const committed = await control.committedLines(run, shards);
  for (const l of quarantined) await jsm.streams.purge(streamOf(run), { filter: subjectOf(run, l.shard) });
  const lifted = await control.lift(
    run,
    quarantined.map((l) => l.shard),
    0,
  );
  for (const l of quarantined)
    log.warn(
      { shard: l.shard, cause: l.cause, fromLine: committed[l.shard] },
      'repairing a quarantined shard: publishing again what its journal lacks',
    );
  return { submit: options.submitNo, committed: new Map(lifted.map((shard) => [shard, committed[shard]!])) };
}

/** Why a shard is not finished, in a few words. */
function whyNot(l: LeaseRow): string {
  if (l.quarantined) return `quarantined: ${l.cause}`;
  const owner = l.live ? `owned by node ${l.node}` : 'no live owner (are nodes running?)';
  return l.failures > 0 ? `${owner}; failed ${l.failures} times in a row, the last: ${l.cause}` : owner;
}

/**
 * Polls the leases until every shard of the run is finished (applied its end marker). A shard
 * quarantined, or the deadline passed, ends the wait (exit 1, naming the shards and why); now and
 * then, a shard whose end marker is no longer in the stream is quarantined, so that it is named.
 */
async function waitForShards(
  control: ClusterControl,
  options: SubmitOptions,
  deadlineAt: number,
  check: () => Promise<void>,
): Promise<void> {
  const { run, log } = options;
  let lastReport = Date.now();
  for (;;) {
    const leases = await control.leases(run);
    const open = leases.filter((l) => !l.finished);
    if (open.length === 0) return;
    const quarantined = quarantineFailure(run, open);
    if (quarantined) throw quarantined;
    if (Date.now() > deadlineAt)
      throw runFailure(
        `run ${run}: not finished within --deadline ${options.deadlineMs / 1000} s: ${open.map((l) => `shard ${l.shard} ${whyNot(l)}`).join('; ')}`,
      );
    if (Date.now() - lastReport > waitLogEveryMs) {
      await control.touch(run); // a run someone waits for is not abandoned
      await check();
      const unowned = open.filter((l) => !l.live).length;
      log.info(
        { finished: leases.length - open.length, shards: leases.length, unowned },
        unowned > 0 ? 'waiting for nodes (some shards have no live owner)' : 'waiting for shards',
      );
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, shardsPollMs));
  }
}
