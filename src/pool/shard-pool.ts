/**
 * One single-thread Piscina pool per shard: the shard's state lives in that one thread, so every
 * batch of a shard must reach it. Piscina does not pin tasks to threads, and a balancer that
 * declines a task requeues it at the tail; a pool per shard makes ownership structural instead.
 * Piscina may also reorder queued tasks, so each shard's batches are chained: the next is handed to
 * the pool only when the previous one is done (the caller still keeps several in flight, and the
 * parser runs ahead). Batches are numbered per shard and the worker checks the order.
 *
 * Workers reply with data ({ok, value} or {ok: false, error}); a failure is rethrown here as the
 * RunError it was. A pool is never destroyed while one of its tasks runs: close() first lets every
 * shard finish its task and close its journal (terminating a thread inside better-sqlite3, as it
 * raises an error, aborts the process natively: `v8::ToLocalChecked Empty MaybeLocal`).
 */
import { Piscina } from 'piscina';
import { workerYoungGenerationMb } from '../constants.js';
import type { TxBatch } from '../engine/batch.js';
import type { InputProof } from '../io/input-proof.js';
import { describeError, fromFailureData, RunError, runFailure } from '../errors.js';
import type { LogConfig } from '../ops/logger.js';
import type { TraceCarrier } from '../ops/tracing.js';
import type { ApplyReply, FinishReply, OpenReply, Reply, WorkerConfig, WorkerSeal, WorkerTask } from './protocol.js';

const workerFile = new URL('./worker.js', import.meta.url).href;

export class ShardPool {
  private readonly pools: Piscina[];
  private readonly nextSeq: number[];
  private readonly tails: Promise<unknown>[];
  /** The run's span context, handed to every task while tracing is on. */
  trace: TraceCarrier | undefined;

  constructor(
    readonly shards: number,
    log: LogConfig,
    journalDir: string | undefined,
  ) {
    this.pools = Array.from({ length: shards }, (_, shard) => {
      const workerData: WorkerConfig = { shard, shards, log, journalDir };
      return new Piscina({
        filename: workerFile,
        workerData,
        minThreads: 1,
        maxThreads: 1,
        concurrentTasksPerWorker: 1,
        idleTimeout: Number.POSITIVE_INFINITY,
        // A small nursery: the engine's garbage is short-lived, and each shard's heap adds to RSS.
        resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb },
      });
    });
    this.nextSeq = new Array<number>(shards).fill(0);
    this.tails = new Array<Promise<unknown>>(shards).fill(Promise.resolve());
  }

  /**
   * Opens every shard (recovering its journal partition); throws the first failure. A sealed
   * journal's keys travel in this message (structured clone), not in the threads' data or env.
   */
  async open(sealed?: WorkerSeal, formatVersion?: number): Promise<OpenReply[]> {
    const task: WorkerTask = {
      op: 'open',
      trace: this.trace,
      ...(sealed ? { sealed } : {}),
      ...(formatVersion === undefined ? {} : { formatVersion }),
    };
    return Promise.all(
      this.pools.map((_, shard) =>
        this.enqueue(shard, () => this.pools[shard]!.run(task) as Promise<Reply<OpenReply>>),
      ),
    );
  }

  apply(shard: number, batch: TxBatch, proof: InputProof): Promise<ApplyReply> {
    const task: WorkerTask = { op: 'apply', seq: this.nextSeq[shard]!++, batch, proof, trace: this.trace };
    return this.enqueue(
      shard,
      () => this.pools[shard]!.run(task, { transferList: [batch.buffer] }) as Promise<Reply<ApplyReply>>,
    );
  }

  /** `complete`: the input was read to its end (else a resumed run goes on from here). */
  finish(shard: number, complete: boolean): Promise<FinishReply> {
    const task: WorkerTask = { op: 'finish', complete, trace: this.trace };
    return this.enqueue(shard, () => this.pools[shard]!.run(task) as Promise<Reply<FinishReply>>);
  }

  /** Runs `send` after the shard's previous task; a failed task fails every later one. */
  private enqueue<T>(shard: number, send: () => Promise<Reply<T>>): Promise<T> {
    const result = this.tails[shard]!.then(send).then(unwrap, (error: unknown) => {
      throw fromWorker(error);
    });
    this.tails[shard] = result;
    return result;
  }

  /**
   * Waits for every shard's last task, lets each close its journal (a no-op after finish), then
   * ends the threads. Closing again waits for the same close.
   */
  close(): Promise<void> {
    this.closed ??= this.closeOnce();
    return this.closed;
  }

  private closed: Promise<void> | undefined;

  private async closeOnce(): Promise<void> {
    await Promise.allSettled(this.tails);
    const task: WorkerTask = { op: 'close' };
    await Promise.allSettled(this.pools.map((pool) => pool.run(task)));
    await Promise.allSettled(this.pools.map((pool) => pool.destroy()));
  }
}

function unwrap<T>(reply: Reply<T>): T {
  if (!reply.ok) throw fromFailureData(reply.error);
  return reply.value;
}

/** A thread that died (out of memory, a crash) rather than replying. */
function fromWorker(error: unknown): unknown {
  if (error instanceof RunError) return error;
  return runFailure(`a shard worker failed: ${describeError(error)}`);
}
