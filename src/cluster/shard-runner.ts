/**
 * One owned shard on a node, seen from the node's main thread. The shard's engine and PostgreSQL
 * journal partition run in a worker thread (shard-worker.ts: one long-running task of the node's
 * Piscina pool); this side reads the shard's JetStream subject and feeds the worker.
 *
 *  - Open: the previous owner's session (if a paused node still holds the partition's lock) is
 *    ended, then the worker opens the partition with this lease's generation as a session setting;
 *    every commit is fenced on it (control.ts). Recovery gives the last committed line.
 *  - Read: an ordered consumer on the shard's subject from the lease's stream hint (a position at
 *    or before the first batch not committed). Ordered consumers deliver in stream order, and
 *    recreate themselves after a NATS restart from the last sequence seen.
 *  - Apply: a batch whose last line the partition already holds (or was already handed over) is
 *    skipped (a re-delivery, or a batch stored twice by a re-run submit beyond JetStream's
 *    de-duplication window): applied once. Otherwise its buffer is transferred to the worker, which
 *    applies it and commits it to the journal (one fenced transaction). At most batchesInFlightMax
 *    are with the worker: beyond that this side stops pulling from NATS (the consumer's read-ahead is
 *    bounded too), so a slow shard holds a bounded amount of memory.
 *  - The acknowledgement of a batch is its journal commit: the position lives in the journal, not in
 *    the consumer, so a new owner continues from the first batch not committed whatever was acked.
 *  - End marker: the worker writes a final snapshot; then the lease is marked finished.
 *  - Stop (lease lost, rebalancing, shutdown): the worker finishes the batch it is applying, closes
 *    the partition and returns; one that does not within workerStopWaitMs is terminated (abandoned:
 *    its session dies with the thread, and fencing refuses anything it had in flight). A worker
 *    still recovering (it has written nothing) is terminated at once.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { batchesInFlightMax, consumeExpiresMs, consumeMessagesMax, workerStopWaitMs } from '../constants.js';
import { describeError, fromFailureData, runFailure } from '../errors.js';
import type { LogConfig } from '../ops/logger.js';
import { traced, tracingOn, type TraceCarrier } from '../ops/tracing.js';
import type { OpenReply } from '../pool/protocol.js';
import type { Claim } from './leases.js';
import { header, streamOf, subjectOf } from './names.js';
import { fencedJournalUrl } from './schema.js';
import type { FromShardWorker, ShardOutcome, ShardTask, ShardTaskReply, ToShardWorker } from './shard-protocol.js';
import { decodeBatch } from './wire.js';

export interface ShardMetrics {
  rowsApplied(run: string, shard: number, rows: number): void;
  batchApplied(run: string, shard: number, ms: number): void;
  lag(run: string, shard: number, pending: number): void;
}

/** The control-plane calls a runner makes (the node runs them one at a time on its connection). */
export interface RunnerControl {
  evictPartitionHolder(run: string, shard: number): Promise<number>;
  finish(run: string, shard: number, generation: number, streamSeq: number): Promise<void>;
}

interface Sent {
  readonly seq: number;
  readonly lastLine: number;
  readonly pending: number;
}

type TaskEnd = { ok: true; outcome: ShardOutcome } | { ok: false; error: unknown };

export class ShardRunner {
  /** Stream sequence of the last message handled (the lease's resume hint). */
  streamSeq: number;
  /** Last line the worker has applied (and handed to the journal). */
  committedLine = 0;
  ready = false;
  finished = false;
  failed: unknown;
  /** The worker thread running the shard, once it has recovered. */
  threadId: number | undefined;
  readonly startedMs = performance.now();
  readonly done: Promise<void>;
  private stopping = false;
  private stopConsumer: (() => void) | undefined;
  /** Last line handed to the worker (applied, or on its way). */
  private sentLine = 0;
  private readonly inFlight: Sent[] = [];
  private port: MessagePort | undefined;
  private readonly abort = new AbortController();
  private task: Promise<TaskEnd> | undefined;
  private taskEnd: TaskEnd | undefined;
  private onRecovered: ((info: OpenReply) => void) | undefined;
  private waiters: (() => void)[] = [];
  private onStop: (() => void) | undefined;
  private readonly timing = { evicted: 0, recovered: 0 };
  private readonly stopped = new Promise<undefined>((resolve) => (this.onStop = () => resolve(undefined)));

  constructor(
    readonly claim: Claim,
    private readonly deps: {
      /** Starts once this settles (the same shard's previous runner in this node has let go). */
      readonly after?: Promise<void>;
      readonly journalUrl: string;
      readonly js: JetStreamClient;
      readonly pool: Piscina;
      readonly control: RunnerControl;
      readonly log: Logger;
      readonly logConfig: LogConfig;
      readonly nodeId: string;
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

  /** Stops reading and the worker (promptly, or it is abandoned); resolves once the shard is let go. */
  stop(): Promise<void> {
    return traced('payments.node.handoff', this.spanAttributes(), async () => {
      this.stopping = true;
      this.stopConsumer?.();
      this.onStop?.();
      this.wake();
      await this.done;
    });
  }

  private spanAttributes() {
    const { run, shard, generation } = this.claim;
    return {
      'payments.run': run,
      'payments.shard': shard,
      'payments.generation': generation,
      'payments.node': this.deps.nodeId,
    };
  }

  private async run(): Promise<void> {
    try {
      const started = performance.now();
      // The claim: a previous owner's session ended, the worker started, the journal recovered.
      const recovery = await traced('payments.node.claim', this.spanAttributes(), (span) =>
        this.recover(span?.carrier()),
      );
      if (recovery === undefined) return;
      const messages = await this.subscribe();
      if (this.stopping || this.taskEnd) return this.checkWorker();
      this.ready = true;
      const { run, shard, generation } = this.claim;
      this.deps.log.info(
        {
          run,
          shard,
          generation,
          thread: this.threadId,
          resumeLine: recovery.resumeLine,
          recordsReplayed: recovery.recordsReplayed,
          recoveryMs: Math.round(performance.now() - started),
          // Where it went: evicting a previous session, the worker (a thread, then its own recovery).
          evictMs: Math.round(this.timing.evicted - started),
          workerMs: Math.round(this.timing.recovered - this.timing.evicted),
          workerRecoveryMs: Math.round(recovery.recoveryMs),
        },
        'shard claimed and recovered',
      );
      await this.applyMessages(messages);
      this.checkWorker();
    } finally {
      this.stopConsumer?.();
      await this.endWorker();
    }
  }

  /** Ends a paused previous owner's session, then starts the shard's worker and waits for its recovery. */
  private async recover(trace: TraceCarrier | undefined): Promise<OpenReply | undefined> {
    const { run, shard, shards, generation } = this.claim;
    const { log, control, pool } = this.deps;
    await Promise.race([this.deps.after, this.stopped]);
    if (this.stopping) return undefined;
    log.debug({ run, shard, generation }, 'shard claimed: evicting any previous session, then recovering');
    const evicted = await control.evictPartitionHolder(run, shard);
    if (evicted > 0) log.warn({ run, shard, evicted }, 'ended the previous owner’s session (paused past its lease)');
    this.timing.evicted = performance.now();
    if (this.stopping) return undefined;
    const channel = new MessageChannel();
    this.port = channel.port1;
    const recovered = new Promise<OpenReply>((resolve) => (this.onRecovered = resolve));
    channel.port1.on('message', (message: FromShardWorker) => this.fromWorker(message));
    const task: ShardTask = {
      port: channel.port2,
      run,
      shard,
      shards,
      journalUrl: fencedJournalUrl(this.deps.journalUrl, run, generation),
      log: this.deps.logConfig,
      bindings: { node: this.deps.nodeId, run, shard, generation },
      trace,
    };
    this.task = (
      pool.run(task, { transferList: [channel.port2], signal: this.abort.signal }) as Promise<ShardTaskReply>
    ).then(
      (reply): TaskEnd =>
        reply.ok ? { ok: true, outcome: reply.value } : { ok: false, error: fromFailureData(reply.error) },
      (error: unknown): TaskEnd => ({
        ok: false,
        error: this.abort.signal.aborted
          ? runFailure(`shard ${shard} of run ${run}: its worker did not stop in time; abandoned`)
          : runFailure(`shard ${shard} of run ${run}: the worker thread failed: ${describeError(error)}`),
      }),
    );
    void this.task.then((end) => {
      this.taskEnd = end;
      // A worker that failed mid-run: stop reading, wake whoever waits for it.
      if (!end.ok) this.stopConsumer?.();
      this.wake();
    });
    // A stop does not wait for the recovery: the worker gets 'stop' (it reads it once recovered)
    // and is terminated if that takes longer than workerStopWaitMs.
    const info = await Promise.race([recovered, this.task.then(() => undefined), this.stopped]);
    if (info === undefined) {
      this.checkWorker();
      if (this.stopping) return undefined; // stopped while recovering
      throw runFailure(`shard ${shard} of run ${run}: the worker ended before recovering`);
    }
    this.timing.recovered = performance.now();
    this.committedLine = this.sentLine = info.resumeLine;
    return info;
  }

  private fromWorker(message: FromShardWorker): void {
    if (message.type === 'recovered') {
      this.threadId = message.threadId;
      this.onRecovered?.(message.info);
      return;
    }
    // Replies come in the order batches were sent.
    const sent = this.inFlight.shift();
    if (sent === undefined || sent.seq !== message.seq) return;
    this.committedLine = sent.lastLine;
    this.streamSeq = sent.seq;
    const { run, shard } = this.claim;
    const { metrics } = this.deps;
    metrics.rowsApplied(run, shard, message.rows);
    metrics.batchApplied(run, shard, message.applyMs);
    metrics.lag(run, shard, sent.pending);
    this.wake();
  }

  /** Throws the worker's failure, if it ended with one. */
  private checkWorker(): void {
    if (this.taskEnd?.ok === false) throw this.taskEnd.error;
  }

  /** Waits for the next reply from the worker, its end, or a stop. */
  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** Asks the worker to stop (unless it ended); terminates it if it has not within workerStopWaitMs. */
  private async endWorker(): Promise<void> {
    const task = this.task;
    if (task === undefined) return;
    if (this.taskEnd === undefined && this.timing.recovered === 0) {
      // Stopped while recovering (a rebalancing, a lost lease): a recovery only reads, so the worker
      // is terminated at once rather than waited for.
      this.deps.log.debug(
        { run: this.claim.run, shard: this.claim.shard },
        'stopped while recovering; worker terminated',
      );
      this.abort.abort();
      await task;
      this.port?.close();
      return;
    }
    if (this.taskEnd === undefined) this.send({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      task.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), workerStopWaitMs))),
    ]);
    clearTimeout(timer);
    if (!ended) {
      this.deps.log.error(
        { run: this.claim.run, shard: this.claim.shard, thread: this.threadId },
        'shard worker did not stop in time; terminated (fencing refuses anything it had in flight)',
      );
      this.abort.abort();
      await task;
    }
    this.port?.close();
  }

  private send(message: ToShardWorker, transfer: ArrayBuffer[] = []): void {
    this.port?.postMessage(message, transfer);
  }

  /** The shard's subject, from the lease's stream position hint (or the start). */
  private async subscribe() {
    const { run, shard } = this.claim;
    this.deps.log.debug({ run, shard, resumeLine: this.committedLine }, 'journal recovered; subscribing');
    const consumer = await this.deps.js.consumers.get(streamOf(run), {
      filter_subjects: subjectOf(run, shard),
      ...(this.streamSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.streamSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
    // Bounded read-ahead; short pull requests (heartbeats every half of one), so that a restarted
    // NATS server is noticed, and the ordered consumer recreated, within seconds rather than 30 s.
    const messages = await consumer.consume({ max_messages: consumeMessagesMax, expires: consumeExpiresMs });
    this.stopConsumer = () => void messages.stop();
    if (this.stopping || this.taskEnd) messages.stop();
    return messages;
  }

  /**
   * Hands the shard's batches to the worker in order, skipping those the journal already holds
   * (applied once); the end marker finishes the shard.
   */
  private async applyMessages(messages: AsyncIterable<JsMsg>): Promise<void> {
    const { shard } = this.claim;
    // Batch numbers must follow each other: a consumer that skipped messages must not go on silently
    // (the runner fails, and the claim that follows reads again from the lease's hint).
    let lastBatch = -1;
    for await (const m of messages) {
      if (this.stopping || this.taskEnd) break;
      const end = m.headers?.get(header.end);
      const batchNo = Number(end !== undefined && end !== '' ? end : m.headers?.get(header.batch));
      // A message without a batch number is not one submit sent: stop rather than apply it unchecked.
      if (!Number.isSafeInteger(batchNo) || batchNo < 0)
        throw new Error(`a message of shard ${shard} (stream sequence ${m.seq}) has no batch number; reading again`);
      if (lastBatch >= 0 && batchNo > lastBatch + 1)
        throw new Error(`stream skipped batches ${lastBatch + 1} to ${batchNo - 1} of shard ${shard}; reading again`);
      lastBatch = Math.max(lastBatch, batchNo);
      if (end !== undefined && end !== '') {
        await this.finishShard(m);
        break;
      }
      const lastLine = Number(m.headers?.get(header.lastLine));
      if (lastLine <= this.sentLine) {
        // Already in the journal (applied once). The hint moves only when nothing is in flight.
        if (this.inFlight.length === 0) this.streamSeq = m.seq;
        continue;
      }
      // Backpressure: the next message is not pulled while the worker is this far behind.
      while (this.inFlight.length >= batchesInFlightMax && !this.stopping && !this.taskEnd) await this.changed();
      if (this.stopping || this.taskEnd) break;
      const batch = decodeBatch(m.data);
      this.inFlight.push({ seq: m.seq, lastLine, pending: m.info.pending });
      this.sentLine = lastLine;
      const traceparent = tracingOn() ? m.headers?.get('traceparent') : undefined;
      const trace = traceparent ? { traceparent, tracestate: m.headers?.get('tracestate') || undefined } : undefined;
      this.send({ type: 'batch', seq: m.seq, count: batch.count, buffer: batch.buffer, trace }, [batch.buffer]);
    }
  }

  private async finishShard(m: JsMsg): Promise<void> {
    const { run, shard, generation } = this.claim;
    while (this.inFlight.length > 0 && !this.stopping && !this.taskEnd) await this.changed();
    if (this.stopping || this.taskEnd) return;
    const lastLine = Number(m.headers!.get(header.lastLine));
    if (this.committedLine < lastLine)
      throw new Error(`invariant: end of shard ${shard} at line ${lastLine} but committed ${this.committedLine}`);
    this.send({ type: 'end' });
    const end = await this.task!;
    if (!end.ok) throw end.error;
    // The last check before a shard counts as done: its journal holds one record per row submit
    // routed to it. A batch the stream lost, or a consumer skipped where batch numbers could not
    // show it (the first batch read after a claim), leaves the shard unfinished, never short.
    const rows = m.headers?.get(header.rows);
    if (rows !== undefined && rows !== '' && Number(rows) !== end.outcome.records)
      throw new Error(
        `shard ${shard} of run ${run}: its journal holds ${end.outcome.records} records but the stream sent ${rows} rows; reading again`,
      );
    this.streamSeq = m.seq;
    await this.deps.control.finish(run, shard, generation, m.seq);
    this.finished = true;
    this.deps.log.info({ run, shard, rows: end.outcome.rowsApplied, records: end.outcome.records }, 'shard finished');
  }
}
