/** Messages between the parsing thread and a shard worker (one Piscina task each). */
import type { TxBatch } from '../engine/batch.js';
import type { InputProof } from '../io/input-proof.js';
import type { AccountsSnapshot, RecoveryInfo } from '../engine/shard-engine.js';
import type { FailureData } from '../errors.js';
import type { LogConfig } from '../ops/logger.js';
import type { TraceCarrier } from '../ops/tracing.js';
import type { JournalKeyring, JournalSealInfo } from '../journal/seal.js';

/** A sealed journal's seal and the keys given: sent with the open task, never in argv or env. */
export interface WorkerSeal {
  readonly seal: JournalSealInfo;
  readonly keys: JournalKeyring;
}

export interface WorkerConfig {
  readonly shard: number;
  readonly shards: number;
  readonly log: LogConfig;
  /** Directory of the durable journal; undefined for the null journal. */
  readonly journalDir: string | undefined;
}

/** trace: the run's span context while tracing is on (the worker's spans are its children). */
export type WorkerTask =
  /** formatVersion: a journal directory's format, from its manifest (a partition is created in it, or must have it). */
  | { op: 'open'; trace?: TraceCarrier; sealed?: WorkerSeal; formatVersion?: number }
  /** proof: the input text up to the end of the read the batch's rows came from (stored at commit). */
  | { op: 'apply'; seq: number; batch: TxBatch; proof: InputProof; trace?: TraceCarrier }
  /** complete: the input was read to its end; false after a stop, when a resumed run goes on. */
  | { op: 'finish'; complete: boolean; trace?: TraceCarrier }
  /** Releases the shard's journal without a final snapshot (after a failure elsewhere). */
  | { op: 'close' };

/** Every reply: the task's result, or its failure as data (never a thrown object across threads). */
export type Reply<T> = { ok: true; value: T } | { ok: false; error: FailureData };

/** The shard is ready; with a durable journal, what recovery found. */
export interface OpenReply extends RecoveryInfo {
  recoveryMs: number;
}

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
