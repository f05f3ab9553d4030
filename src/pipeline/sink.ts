/**
 * Where the pipeline's batches go: the one seam between read → route → batch → rejected-row merge
 * (src/pipeline/pipeline.ts) and a transport. The worker pool of a local run (pool-sink.ts) and the
 * run's JetStream stream of `payments submit` (src/cluster/jetstream-sink.ts) implement it. Every
 * call is per batch or per chunk, never per row: the local run is the product's hot path.
 */
import type { TxBatch } from '../engine/batch.js';
import type { RoutedChunk } from './router.js';

/** What became of a batch the sink accepted. */
export interface BatchDone {
  /** The batch's buffer, once the sink has finished with it: the router reuses it. */
  readonly buffer?: ArrayBuffer;
  /** Pairs (row index in the batch, rejection reason code); absent when the sink does not decide. */
  readonly rejected?: ArrayLike<number>;
}

export interface BatchSink<End = void> {
  /** A routed chunk, before its batches (its rows passed the header's checks). */
  begin?(chunk: RoutedChunk): Promise<void>;
  /**
   * Takes `shard`'s batch of `chunk` (batches of a shard come in input order). Returns at once
   * when the sink is done with the batch (it copied it), else a promise of when it is.
   */
  accept(shard: number, batch: TxBatch, chunk: RoutedChunk): BatchDone | Promise<BatchDone>;
  /** After each chunk is handed over: waits while the sink is too far behind; throws its failure. */
  ready?(): Promise<void>;
  /** A chunk whose batches are all done and whose rejections are written, in input order. */
  completed?(lastLine: number): Promise<void>;
  /**
   * After the last chunk completed (also when the run was interrupted: `interrupted` true, more
   * rows are to come in a resumed run): the sink's own result.
   */
  end(interrupted: boolean): Promise<End>;
}

/** Where rejected rows go, as rejects-file text in input order (a RejectsSink, or a string). */
export interface RejectsWriter {
  write(text: string): Promise<void> | void;
}
