/**
 * One single-thread Piscina pool per shard: the shard's state lives in that one thread, so every
 * batch of a shard must reach it. Piscina does not pin tasks to threads, and a balancer that
 * declines a task requeues it at the tail; a pool per shard makes ownership structural instead.
 * Batches are numbered per shard and the worker checks the order.
 */
import { Piscina } from 'piscina';
import type { TxBatch } from './batch.js';
import type { ApplyReply, FinishReply, WorkerConfig, WorkerTask } from './protocol.js';

const workerFile = new URL('./worker.js', import.meta.url).href;

export class ShardPool {
  private readonly pools: Piscina[];
  private readonly nextSeq: number[];

  constructor(readonly shards: number) {
    this.pools = Array.from({ length: shards }, (_, shard) => {
      const workerData: WorkerConfig = { shard, shards };
      return new Piscina({
        filename: workerFile,
        workerData,
        minThreads: 1,
        maxThreads: 1,
        concurrentTasksPerWorker: 1,
        idleTimeout: Number.POSITIVE_INFINITY,
      });
    });
    this.nextSeq = new Array<number>(shards).fill(0);
  }

  apply(shard: number, batch: TxBatch): Promise<ApplyReply> {
    const task: WorkerTask = { op: 'apply', seq: this.nextSeq[shard]!++, batch };
    return this.pools[shard]!.run(task, { transferList: [batch.buffer] }) as Promise<ApplyReply>;
  }

  finish(shard: number): Promise<FinishReply> {
    const task: WorkerTask = { op: 'finish' };
    return this.pools[shard]!.run(task) as Promise<FinishReply>;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.pools.map((pool) => pool.destroy()));
  }
}
