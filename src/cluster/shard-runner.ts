/**
 * One owned shard on a node, seen from the node's main thread. The shard's engine and PostgreSQL
 * journal partition run in one of the node's shard threads (shard-worker.ts: one long-running task
 * of its pool, which a thread shares with other shards: shard-threads.ts); this side reads the shard's JetStream subject and feeds the worker. Its state is one ShardStatus.
 *
 *  - Open: the worker opens the partition with this lease's generation as a session setting, which
 *    fences every commit (schema.ts): a paused previous owner's session is left alone, its commits fail.
 *  - Read: an ordered consumer from the lease's stream hint (at or before the first batch not
 *    committed); it delivers in stream order and recreates itself after a NATS restart.
 *  - Judge (shard-messages.ts): a batch the journal holds is skipped (applied once); what is not a
 *    valid batch of the run is a dead letter, never applied; a batch missing or damaged, a stream
 *    gone, or an end marker the journal does not match quarantine the shard (see shard-health.ts).
 *  - Apply: the buffer goes to the worker, which applies and commits it (one fenced transaction);
 *    at most batchesInFlightMax are with it, so a slow shard holds bounded memory. A batch is acked
 *    by its commit: a new owner continues from the first batch the journal lacks.
 *  - End marker: a final snapshot; then the lease is marked finished. Stop: the worker finishes its
 *    batch (a handoff snapshots first) and closes. One still recovering is not waited for, nor one
 *    that has not stopped within workerStopWaitMs: closing the port ends its session, so it returns
 *    at once, and fencing refuses anything it had in flight. A shard sharing a thread is never terminated.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { JsMsg } from '@nats-io/jetstream';
import { batchesInFlightMax, consumeExpiresMs, consumeMessagesMax, workerStopWaitMs } from '../constants.js';
import { describeError, fromFailureData, runFailure } from '../errors.js';
import { traced, tracingOn, type TraceCarrier } from '../ops/tracing.js';
import type { OpenReply } from '../pool/protocol.js';
import type { Claim, HeldLease } from './leases.js';
import { shardSpanAttributes, type RunnerDeps, type Sent, type ShardStatus } from './shard-status.js';
import { streamOf } from './names.js';
import { settlesWithin, shardConsumer, streamDeletedWhileRead } from './shard-consumer.js';
import { fencedJournalUrl } from './schema.js';
import { judge, type Verdict } from './shard-messages.js';
import { keepDeadLetter } from './dead-letter.js';
import { missingRunKey } from './message-seal.js';
import type { FromShardWorker, ShardOutcome, ShardTask, ShardTaskReply, ToShardWorker } from './shard-protocol.js';

type TaskEnd = { ok: true; outcome: ShardOutcome } | { ok: false; error: unknown };

export class ShardRunner {
  /** Stream sequence of the last message handled (the lease's resume hint). */
  streamSeq: number;
  /** Last line the worker has applied (and handed to the journal). */
  committedLine = 0;
  /** The journal's last line when recovered (-1 before): what is durable, for counting failures in a row. */
  recoveredLine = -1;
  private current: ShardStatus = { kind: 'waiting' };
  /** The worker thread running the shard, once it has recovered. */
  threadId: number | undefined;
  readonly startedMs = performance.now();
  readonly done: Promise<void>;
  private stopConsumer: (() => void) | undefined;
  /** Last line handed to the worker (applied, or on its way). */
  private sentLine = 0;
  /** The run's stream was deleted while the shard read it (its watcher stopped the reading). */
  private streamDeleted = false;
  private readonly inFlight: Sent[] = [];
  private port: MessagePort | undefined;
  private task: Promise<TaskEnd> | undefined;
  private taskEnd: TaskEnd | undefined;
  private onRecovered: ((info: OpenReply) => void) | undefined;
  private waiters: (() => void)[] = [];
  private onStop: (() => void) | undefined;
  private handoff = false;
  private readonly timing = { evicted: 0, recovered: 0 };
  private readonly stopped = new Promise<undefined>((resolve) => (this.onStop = () => resolve(undefined)));

  constructor(
    readonly claim: Claim,
    private readonly deps: RunnerDeps,
  ) {
    this.streamSeq = claim.streamSeq;
    this.deps.metrics.shardState(claim.run, claim.shard, this.current);
    this.done = this.run().catch((error: unknown) => {
      if (this.current.kind !== 'stopping') this.set({ kind: 'failed', error });
    });
  }

  get key(): string {
    return `${this.claim.run}/${this.claim.shard}`;
  }

  get status(): ShardStatus {
    return this.current;
  }

  /** The worker's failure, if it ended with one: kept after a stop too (a stale owner's fenced commit). */
  get workerFailure(): unknown {
    return this.taskEnd?.ok === false ? this.taskEnd.error : undefined;
  }
  /** Recovered and reading. */
  get ready(): boolean {
    return this.current.kind === 'running';
  }

  /** The lease it holds, with its stream hint. */
  get lease(): HeldLease {
    return { ...this.claim, streamSeq: this.streamSeq };
  }

  /** Whether the status is of this kind (a method: the compiler does not narrow it across awaits). */
  private at(kind: ShardStatus['kind']): boolean {
    return this.current.kind === kind;
  }

  private set(status: ShardStatus): void {
    // An ended runner keeps its end (a stop after it changes nothing).
    if (['finished', 'failed', 'quarantined'].includes(this.current.kind)) return;
    this.current = status;
    this.deps.metrics.shardState(this.claim.run, this.claim.shard, status);
  }

  /** Ends the runner with a failure (the node gives the shard back with a backoff). */
  fail(error: unknown): void {
    this.set({ kind: 'failed', error });
    void this.stop();
  }

  /**
   * Stops reading at once, without waiting: the worker gets its 'stop' once the batch it applies is
   * done, and the batches sent ahead of it are never applied (the next owner reads them from the
   * stream). A stopping node calls it on the signal, before anything else it does on the way out.
   */
  halt(handoff = false): void {
    this.handoff ||= handoff;
    this.set({ kind: 'stopping' });
    this.stopConsumer?.();
    this.onStop?.();
    this.wake();
  }

  /** Stops reading and the worker; resolves once let go. `handoff`: to another node, snapshot first. */
  stop(handoff = false): Promise<void> {
    return traced('payments.node.handoff', shardSpanAttributes(this.claim, this.deps.nodeId), async () => {
      this.halt(handoff);
      await this.done;
      const end = this.taskEnd;
      if (end?.ok && end.outcome.handedOff)
        this.deps.log.info({ run: this.claim.run, shard: this.claim.shard }, 'shard handed off (snapshot written)');
    });
  }

  /** Reading is to end: stopped, ended, or the worker ended. */
  private get halted(): boolean {
    return this.current.kind !== 'running' || this.taskEnd !== undefined;
  }

  private async run(): Promise<void> {
    try {
      const started = performance.now();
      // The claim: a previous owner's session ended, the worker started, the journal recovered.
      const recovery = await traced('payments.node.claim', shardSpanAttributes(this.claim, this.deps.nodeId), (span) =>
        this.recover(span?.carrier()),
      );
      if (recovery === undefined) return;
      const messages = await this.subscribe();
      if (messages === undefined) return;
      if (!this.at('recovering') || this.taskEnd) return this.checkWorker();
      this.set({ kind: 'running' });
      const { run, shard, generation } = this.claim;
      // Where the recovery went: waiting for a previous runner here to let go, the worker (a thread, then its own recovery).
      const ms = (from: number, to: number) => Math.round(to - from);
      const { resumeLine, recordsReplayed } = recovery;
      const [evictMs, workerMs] = [ms(started, this.timing.evicted), ms(this.timing.evicted, this.timing.recovered)];
      const recoveryMs = ms(started, performance.now());
      const workerRecoveryMs = Math.round(recovery.recoveryMs);
      const at = { run, shard, generation, thread: this.threadId, resumeLine, recordsReplayed };
      this.deps.log.info({ ...at, recoveryMs, evictMs, workerMs, workerRecoveryMs }, 'shard claimed and recovered');
      await this.applyMessages(messages);
      this.checkWorker();
    } finally {
      this.stopConsumer?.();
      await this.endWorker();
    }
  }

  /** Once a previous runner of the shard here has let go, starts the shard's worker and waits for its recovery. */
  private async recover(trace: TraceCarrier | undefined): Promise<OpenReply | undefined> {
    const { run, shard, shards, generation } = this.claim;
    const { log, pool } = this.deps;
    await Promise.race([this.deps.after, this.stopped]);
    if (!this.at('waiting')) return undefined;
    const missing = missingRunKey({ run, keyId: this.claim.sealKeyId, keys: this.deps.keys });
    if (missing !== undefined) return void (await this.quarantine(missing)); // another key would not come
    this.set({ kind: 'recovering' });
    log.debug({ run, shard, generation }, 'shard claimed: recovering');
    this.timing.evicted = performance.now();
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
      keys: this.claim.sealKeyId === undefined ? [] : this.deps.keys, // a plain journal refuses keys
      log: this.deps.logConfig,
      bindings: { node: this.deps.nodeId, run, shard, generation },
      trace,
    };
    this.task = (pool.run(task, { transferList: [channel.port2] }) as Promise<ShardTaskReply>).then(
      (reply): TaskEnd =>
        reply.ok ? { ok: true, outcome: reply.value } : { ok: false, error: fromFailureData(reply.error) },
      (error: unknown): TaskEnd => ({
        ok: false,
        error: runFailure(`shard ${shard} of run ${run}: the worker thread failed: ${describeError(error)}`),
      }),
    );
    void this.task.then((end) => {
      this.taskEnd = end;
      // A worker that failed mid-run: stop reading, wake whoever waits for it.
      if (!end.ok) this.stopConsumer?.();
      this.wake();
    });
    // A stop does not wait for the recovery: the worker gets 'stop', and its session ends with the
    // port (endWorker), so the recovery fails at once.
    const info = await Promise.race([recovered, this.task.then(() => undefined), this.stopped]);
    if (info === undefined) {
      this.checkWorker();
      if (!this.at('recovering')) return undefined; // stopped while recovering
      throw runFailure(`shard ${shard} of run ${run}: the worker ended before recovering`);
    }
    this.timing.recovered = performance.now();
    this.committedLine = this.sentLine = this.recoveredLine = info.resumeLine;
    return info;
  }

  private fromWorker(message: FromShardWorker): void {
    const { run, shard } = this.claim;
    const { metrics } = this.deps;
    if (message.type === 'recovered') {
      this.threadId = message.threadId;
      this.onRecovered?.(message.info);
      return;
    }
    if (message.type === 'retrying') return metrics.reconnected('postgres');
    // Replies come in the order batches were sent.
    const sent = this.inFlight.shift();
    if (sent === undefined || sent.seq !== message.seq) return;
    this.committedLine = sent.lastLine;
    this.streamSeq = sent.seq;
    metrics.rowsApplied(run, shard, message.rows);
    metrics.batchApplied(run, shard, message.applyMs, message.commitMs);
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

  /**
   * Asks the shard's task to stop (unless it ended) and waits for it, at most workerStopWaitMs. Its
   * thread runs other shards too, so it is never terminated; closing the port ends the task's
   * session instead (shard-worker.ts), so whatever it waits for fails and it returns. One still
   * recovering (a rebalancing, a lost lease; a recovery only reads) is not waited for; one that
   * does not stop in time is left to end that way, anything it had in flight refused by the fence.
   */
  private async endWorker(): Promise<void> {
    const task = this.task;
    if (task === undefined) return;
    const where = { run: this.claim.run, shard: this.claim.shard, thread: this.threadId };
    const recovering = this.taskEnd === undefined && this.timing.recovered === 0;
    if (this.taskEnd === undefined) this.send({ type: 'stop', handoff: this.handoff });
    if (recovering) this.deps.log.debug(where, 'stopped while recovering; the task ends once recovered');
    else if (!(await settlesWithin(task, workerStopWaitMs)))
      this.deps.log.error(
        where,
        'shard task did not stop in time; its session is ended (fencing refuses anything it had in flight)',
      );
    this.port?.close();
  }

  private send(message: ToShardWorker, transfer: ArrayBuffer[] = []): void {
    this.port?.postMessage(message, transfer);
  }

  private get streamGone(): string {
    return `the run's stream ${streamOf(this.claim.run)} is gone (deleted before the run finished); run the same submit again to publish it again`;
  }

  /** The shard's subject, from the lease's stream position hint (or the start); undefined once quarantined (its stream is gone). */
  private async subscribe() {
    const { run, shard } = this.claim;
    this.deps.log.debug({ run, shard, resumeLine: this.committedLine }, 'journal recovered; subscribing');
    const consumer = await shardConsumer(this.deps.js, run, shard, this.streamSeq);
    if (consumer === undefined) {
      await this.quarantine(this.streamGone);
      return undefined;
    }
    // Bounded read-ahead; short pull requests (heartbeats every half of one), so that a restarted
    // NATS server is noticed, and the ordered consumer recreated, within seconds rather than 30 s.
    const messages = await consumer.consume({ max_messages: consumeMessagesMax, expires: consumeExpiresMs });
    this.stopConsumer = () => void messages.stop();
    // Deleted while it is read: reading stops, and applyMessages quarantines the shard in its order.
    void streamDeletedWhileRead(this.deps.js, run, messages)
      .then((deleted) => {
        if (!deleted) return;
        this.streamDeleted = true;
        messages.stop();
      })
      .catch((error: unknown) => this.deps.log.debug({ run, shard, err: describeError(error) }, 'stream watch ended'));
    if (!this.at('recovering') || this.taskEnd) messages.stop();
    return messages;
  }

  /**
   * Hands the shard's batches to the worker in order, skipping those the journal already holds
   * (applied once) and keeping what is not a batch of the run as dead letters; the end marker
   * finishes the shard, a batch missing quarantines it.
   */
  private async applyMessages(messages: AsyncIterable<JsMsg>): Promise<void> {
    const { run, shard, shards, sealKeyId, journalId } = this.claim;
    const seal = { run, keyId: sealKeyId, keys: this.deps.keys };
    for await (const m of messages) {
      if (this.halted) break;
      const verdict = judge(m.headers, m.data, { shard, shards, sentLine: this.sentLine, journal: journalId }, seal);
      if (verdict.kind === 'duplicate' || verdict.kind === 'dead') {
        if (verdict.kind === 'dead') await keepDeadLetter(this.deps, this.claim, m, verdict);
        // Passed over. The hint moves only when nothing is in flight.
        if (this.inFlight.length === 0) this.streamSeq = m.seq;
        continue;
      }
      if (verdict.kind !== 'apply') {
        // The batches before it land first: the shard stops where its journal is whole.
        if (!(await this.drained())) break;
        if (verdict.kind === 'gap') await this.quarantine(verdict.cause);
        else await this.finishShard(m, verdict);
        break;
      }
      // Backpressure: the next message is not pulled while the worker is this far behind.
      while (this.inFlight.length >= batchesInFlightMax && !this.halted) await this.changed();
      if (this.halted) break;
      const { batch, lastLine } = verdict;
      this.inFlight.push({ seq: m.seq, lastLine, pending: m.info.pending });
      this.sentLine = lastLine;
      const traceparent = tracingOn() ? m.headers?.get('traceparent') : undefined;
      const trace = traceparent ? { traceparent, tracestate: m.headers?.get('tracestate') || undefined } : undefined;
      this.send({ type: 'batch', seq: m.seq, count: batch.count, buffer: batch.buffer, trace }, [batch.buffer]);
    }
    // The stream deleted under the reading (not finished by its end marker): what was read lands first.
    if (this.streamDeleted && this.at('running') && (await this.drained())) await this.quarantine(this.streamGone);
  }

  /** Waits until the worker has committed every batch sent; false when reading is to end first. */
  private async drained(): Promise<boolean> {
    while (this.inFlight.length > 0 && !this.halted) await this.changed();
    return !this.halted;
  }

  /** Records the shard quarantined with its cause (unless the lease moved on: then it just stops). */
  private async quarantine(cause: string): Promise<void> {
    const { run, shard } = this.claim;
    if (await this.deps.control.quarantine(this.lease, cause)) {
      this.deps.log.error({ run, shard, cause }, 'shard quarantined');
      this.set({ kind: 'quarantined', cause });
    } else {
      this.set({ kind: 'failed', error: new Error(`shard ${shard} of run ${run}: lease lost while quarantining`) });
    }
  }

  private async finishShard(m: JsMsg, verdict: Extract<Verdict, { kind: 'end' }>): Promise<void> {
    const { run, shard, generation } = this.claim;
    this.send({ type: 'end' });
    const end = await this.task!;
    if (!end.ok) throw end.error;
    // The last check before a shard counts as done: its journal holds one record per row submit
    // routed to it. A shard short of a batch is never finished: quarantined for a repair instead.
    if (verdict.rows !== end.outcome.records)
      return this.quarantine(
        `its journal holds ${end.outcome.records} records but the end marker counts ${verdict.rows} rows; run the same submit again to republish what is missing`,
      );
    this.streamSeq = m.seq;
    await this.deps.control.finish(run, shard, generation, m.seq);
    this.set({ kind: 'finished' });
    this.deps.log.info({ run, shard, rows: end.outcome.rowsApplied, records: end.outcome.records }, 'shard finished');
  }
}
