/**
 * The local run's BatchSink: each shard's batches to its worker (ShardPool), the rejections from
 * the workers' replies; how far every shard got saved to the journal's manifest now and then; at
 * the end, every shard's accounts.
 */
import { manifestEveryMs } from '../constants.js';
import type { TxBatch } from '../engine/batch.js';
import type { RunJournal } from '../journal/run-journal.js';
import type { ApplyReply, FinishReply } from '../pool/protocol.js';
import type { ShardPool } from '../pool/shard-pool.js';
import type { RoutedChunk } from './router.js';
import type { BatchSink } from './sink.js';

export class PoolSink implements BatchSink<FinishReply[]> {
  private manifestWrittenMs = performance.now();

  constructor(
    private readonly pool: ShardPool,
    private readonly journal: RunJournal | undefined,
    /** How far the run got, for a failure's message: updated as chunks complete. */
    private readonly progress: { lastLine: number },
    private readonly onBatchApplied: ((shard: number, applyMs: number) => void) | undefined,
  ) {}

  /** The worker replies with the batch's rejections and its buffer, transferred back. */
  accept(shard: number, batch: TxBatch, chunk: RoutedChunk): Promise<ApplyReply> {
    const reply = this.pool.apply(shard, batch, chunk.proof);
    const onApplied = this.onBatchApplied;
    if (onApplied === undefined) return reply;
    return reply.then((r) => {
      onApplied(shard, r.applyMs);
      return r;
    });
  }

  async completed(lastLine: number): Promise<void> {
    // A resumed run first re-reads the lines its journal holds: how far it got never goes back.
    this.progress.lastLine = Math.max(this.progress.lastLine, lastLine);
    const manifest = this.journal?.manifest;
    if (manifest === undefined || performance.now() - this.manifestWrittenMs <= manifestEveryMs) return;
    if (lastLine <= manifest.committedLine) return;
    manifest.committedLine = lastLine;
    await this.journal!.save(manifest);
    this.manifestWrittenMs = performance.now();
  }

  end(interrupted: boolean): Promise<FinishReply[]> {
    return Promise.all(Array.from({ length: this.pool.shards }, (_, shard) => this.pool.finish(shard, !interrupted)));
  }
}
