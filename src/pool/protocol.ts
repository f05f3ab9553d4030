/** Messages between the parsing thread and a shard worker (one Piscina task each). */
import type { AccountsSnapshot } from '../engine/shard-engine.js';
import type { LogConfig } from '../ops/logger.js';
import type { TxBatch } from './batch.js';

export interface WorkerConfig {
  readonly shard: number;
  readonly shards: number;
  readonly log: LogConfig;
}

export type WorkerTask =
  | { op: 'apply'; seq: number; batch: TxBatch }
  | { op: 'finish' };

export interface ApplyReply {
  /** Pairs (row index in the batch, rejection reason code). */
  rejected: Uint32Array;
  applyMs: number;
  /** The batch's buffer, transferred back for reuse. */
  buffer: ArrayBuffer;
}

export interface FinishReply {
  accounts: AccountsSnapshot;
  rowsApplied: number;
  eventsAppended: number;
  storedTxCount: number;
  indexBytes: number;
}
