/**
 * One owned shard on a node: the same engine (ShardEngine, in this process) over the shard's
 * PostgreSQL journal partition, fed by the shard's JetStream subject in order.
 *
 *  - Open: the previous owner's session (if a paused node still holds the partition's lock) is
 *    ended, then the partition is opened with this lease's generation as a session setting; every
 *    commit is fenced on it (control.ts). Recovery gives the last committed line.
 *  - Read: an ordered consumer on the shard's subject from the lease's stream hint (a position at
 *    or before the first batch not committed). Ordered consumers deliver in stream order, and
 *    recreate themselves after a NATS restart from the last sequence seen.
 *  - Apply: a batch whose last line the partition already holds is skipped (a re-delivery, or a
 *    batch stored twice by a re-run submit beyond JetStream's de-duplication window): applied once.
 *    Otherwise the engine applies it and commits it to the journal (one fenced transaction).
 *  - The acknowledgement of a batch is its journal commit: the position lives in the journal, not in
 *    the consumer, so a new owner continues from the first batch not committed whatever was acked.
 *  - End marker: a final snapshot, and the lease marked finished.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { ShardEngine } from '../engine/shard-engine.js';
import { describeError } from '../errors.js';
import { PostgresPartition } from '../journal/postgres/partition.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';
import type { Claim, ClusterControl } from './control.js';
import { generationSetting } from './control.js';
import { header, streamOf, subjectOf } from './names.js';
import { decodeBatch } from './wire.js';

/**
 * A shard writes a snapshot at most this often (and only after snapshotRecordsMin new records):
 * a node taking the shard over replays only the records after it, which bounds the takeover time
 * (the single-process policy, a million records, would make a takeover replay up to that many).
 */
const snapshotEveryMs = 5000;
const snapshotRecordsMin = 20_000;

export interface ShardMetrics {
  rowsApplied(run: string, shard: number, rows: number): void;
  batchApplied(run: string, shard: number, ms: number): void;
  lag(run: string, shard: number, pending: number): void;
}

/** A PostgreSQL URL naming the run's journal, with the lease generation as a session setting. */
export function fencedJournalUrl(journalUrl: string, run: string, generation: number | undefined): string {
  const url = new URL(journalUrl);
  url.searchParams.set('journal', run);
  if (generation !== undefined) url.searchParams.set('options', `-c ${generationSetting}=${generation}`);
  return url.toString();
}

export class ShardRunner {
  /** Stream sequence of the last message handled (the lease's resume hint). */
  streamSeq: number;
  committedLine = 0;
  ready = false;
  finished = false;
  failed: unknown;
  readonly startedMs = performance.now();
  private stopping = false;
  private stopConsumer: (() => void) | undefined;
  private partition: PostgresPartition | undefined;
  readonly done: Promise<void>;

  constructor(
    readonly claim: Claim,
    private readonly deps: {
      readonly journalUrl: string;
      readonly js: JetStreamClient;
      readonly control: ClusterControl;
      readonly log: Logger;
      readonly metrics: ShardMetrics;
    },
  ) {
    this.streamSeq = claim.streamSeq;
    this.done = this.run().catch((error: unknown) => {
      this.failed = error;
    });
  }

  get key(): string {
    return `${this.claim.run}/${this.claim.shard}`;
  }

  /** Stops reading; the batch being applied (if any) finishes or fails; the partition is closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopConsumer?.();
    await this.done;
  }

  private async run(): Promise<void> {
    try {
      const { engine, recovery, started } = await this.recover();
      if (this.stopping) return;
      const messages = await this.subscribe(recovery.resumeLine);
      this.ready = true;
      const { run, shard, generation } = this.claim;
      this.deps.log.info(
        {
          run,
          shard,
          generation,
          resumeLine: recovery.resumeLine,
          recordsReplayed: recovery.recordsReplayed,
          recoveryMs: Math.round(performance.now() - started),
        },
        'shard claimed and recovered',
      );
      await this.applyMessages(engine, messages);
    } finally {
      this.stopConsumer?.();
      await this.partition?.close();
    }
  }

  /** Ends a paused previous owner's session, opens the partition under this lease's generation, recovers. */
  private async recover() {
    const { run, shard, shards, generation } = this.claim;
    const { log, control } = this.deps;
    log.debug({ run, shard, generation }, 'shard claimed: evicting any previous session, then recovering');
    const evicted = await control.evictPartitionHolder(run, shard);
    if (evicted > 0) log.warn({ run, shard, evicted }, 'ended the previous owner’s session (paused past its lease)');
    const started = performance.now();
    const target = parsePostgresUrl(fencedJournalUrl(this.deps.journalUrl, run, generation));
    this.partition = new PostgresPartition(target, shard, shards, {
      onRetry: (attempt, delayMs, error) =>
        log.warn({ run, shard, attempt, delayMs: Math.round(delayMs) }, `journal: retrying (${describeError(error)})`),
    });
    const { engine, recovery } = await ShardEngine.open(this.partition);
    this.committedLine = recovery.resumeLine;
    return { engine, recovery, started };
  }

  /** The shard's subject, from the lease's stream position hint (or the start). */
  private async subscribe(resumeLine: number) {
    const { run, shard } = this.claim;
    this.deps.log.debug({ run, shard, resumeLine }, 'journal recovered; subscribing');
    const consumer = await this.deps.js.consumers.get(streamOf(run), {
      filter_subjects: subjectOf(run, shard),
      ...(this.streamSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.streamSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
    // Bounded read-ahead; pull requests of 5 s (heartbeats every 2.5 s), so that a restarted NATS
    // server is noticed, and the ordered consumer recreated, within seconds rather than 30 s.
    const messages = await consumer.consume({ max_messages: 8, expires: 5000 });
    this.stopConsumer = () => void messages.stop();
    if (this.stopping) messages.stop();
    return messages;
  }

  /**
   * Applies the shard's batches in order, skipping those the journal already holds (applied once),
   * with a snapshot every few seconds; the end marker finishes the shard.
   */
  private async applyMessages(engine: ShardEngine, messages: AsyncIterable<JsMsg>): Promise<void> {
    const { run, shard } = this.claim;
    const { log, metrics } = this.deps;
    const snapshots = { records: engine.records, ms: performance.now() };
    // Batch numbers must follow each other: a consumer that skipped messages must not go on silently
    // (the runner fails, and the claim that follows reads again from the lease's hint).
    let lastBatch = -1;
    for await (const m of messages) {
      if (this.stopping) break;
      const end = m.headers?.get(header.end);
      const batchNo = Number(end !== undefined && end !== '' ? end : m.headers?.get(header.batch));
      if (lastBatch >= 0 && batchNo > lastBatch + 1)
        throw new Error(`stream skipped batches ${lastBatch + 1} to ${batchNo - 1} of shard ${shard}; reading again`);
      lastBatch = Math.max(lastBatch, batchNo);
      if (end !== undefined && end !== '') {
        await this.finishShard(engine, m);
        break;
      }
      const lastLine = Number(m.headers?.get(header.lastLine));
      if (lastLine <= this.committedLine) {
        this.streamSeq = m.seq;
        continue; // already in the journal: applied once
      }
      const batch = decodeBatch(m.data);
      const t0 = performance.now();
      await engine.applyBatch(batch);
      const ms = performance.now() - t0;
      this.committedLine = lastLine;
      this.streamSeq = m.seq;
      if (
        engine.records - snapshots.records >= snapshotRecordsMin &&
        performance.now() - snapshots.ms >= snapshotEveryMs
      ) {
        await engine.journal.writeSnapshot(engine.state());
        snapshots.records = engine.records;
        snapshots.ms = performance.now();
      }
      metrics.rowsApplied(run, shard, batch.count);
      metrics.batchApplied(run, shard, ms);
      metrics.lag(run, shard, m.info.pending);
      log.trace({ run, shard, seq: m.seq, rows: batch.count, ms }, 'batch applied');
    }
  }

  private async finishShard(engine: ShardEngine, m: JsMsg): Promise<void> {
    const { run, shard, generation } = this.claim;
    const lastLine = Number(m.headers!.get(header.lastLine));
    if (this.committedLine < lastLine)
      throw new Error(`invariant: end of shard ${shard} at line ${lastLine} but committed ${this.committedLine}`);
    await engine.journal.writeSnapshot(engine.state());
    this.streamSeq = m.seq;
    await this.deps.control.finish(run, shard, generation, m.seq);
    this.finished = true;
    this.deps.log.info({ run, shard, rows: engine.rowsApplied, records: engine.records }, 'shard finished');
  }
}
