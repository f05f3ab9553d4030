/** Messages between the parsing thread and a shard worker (one Piscina task each). */
import type { AccountsSnapshot } from '../engine/shard-engine.js';
import type { LogConfig } from '../ops/logger.js';
import type { TxBatch } from './batch.js';

export interface WorkerConfig {
  readonly shard: number;
  readonly shards: number;
  readonly log: LogConfig;
  /** Directory of the durable journal; undefined for the in-memory journal. */
  readonly journalDir: string | undefined;
}

export type WorkerTask = { op: 'open' } | { op: 'apply'; seq: number; batch: TxBatch } | { op: 'finish' };

/** The shard is ready; with a durable journal, what recovery found. */
export type OpenReply =
  | {
      ok: true;
      resumeLine: number;
      records: number;
      snapshotSeq: number;
      recordsReplayed: number;
      recoveryMs: number;
      torn: { firstLine: number; lastLine: number } | undefined;
    }
  | { ok: false; message: string };

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
  recordsAppended: number;
  storedTxCount: number;
  indexBytes: number;
}
