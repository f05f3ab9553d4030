/**
 * Between a node's main thread and the worker thread that runs one owned shard. The shard is one
 * long-running Piscina task (its engine and journal partition live in that task, so a shard's state
 * is pinned to one thread whatever the pool does); batches and replies go over a MessagePort the
 * task is given. Replies reuse the single-process pool's shapes (src/pool/protocol.ts).
 */
import type { MessagePort } from 'node:worker_threads';
import type { JournalKeyring } from '../journal/seal.js';
import type { LogConfig } from '../ops/logger.js';
import type { TraceCarrier } from '../ops/tracing.js';
import type { OpenReply, Reply } from '../pool/protocol.js';

export interface ShardTask {
  /** The worker's end of the channel; transferred with the task. */
  readonly port: MessagePort;
  readonly run: string;
  readonly shard: number;
  readonly shards: number;
  /** The run's journal URL, carrying the lease generation as a session setting (the fence). */
  readonly journalUrl: string;
  /** The node's journal keys (a sealed run's partition is opened with them). */
  readonly keys: JournalKeyring;
  readonly log: LogConfig;
  /** Bound into every line the worker logs (node, run, shard, generation). */
  readonly bindings: Record<string, unknown>;
  /** The claim's span context while the node traces (the recovery span is its child). */
  readonly trace?: TraceCarrier;
}

/** Main thread → worker. */
export type ToShardWorker =
  /** A batch's columns (batchLayout); the buffer is transferred, not copied. */
  | {
      readonly type: 'batch';
      readonly seq: number;
      readonly count: number;
      readonly buffer: ArrayBuffer;
      /** The publishing span's context from the message's headers (submit traced it; so does the node). */
      readonly trace?: TraceCarrier;
    }
  /** The shard's end marker: a final snapshot, the partition closed, the task returns finished. */
  | { readonly type: 'end' }
  /**
   * Lease lost, rebalancing, shutdown: the partition is closed, the task returns unfinished. A
   * handoff (the node is stopping, or gives the shard to another node) first writes a snapshot of
   * what it committed, so the next owner recovers from it without replaying a record.
   */
  | { readonly type: 'stop'; readonly handoff?: boolean };

/** Worker → main thread, in the order things happen. */
export type FromShardWorker =
  | { readonly type: 'recovered'; readonly info: OpenReply; readonly threadId: number }
  /** A batch applied and handed to the journal (its commit lands before the next one is sent). */
  | {
      readonly type: 'applied';
      readonly seq: number;
      readonly rows: number;
      /** Apply and commit; commitMs the commit alone. */
      readonly applyMs: number;
      readonly commitMs: number;
    }
  /** The journal's connection was lost and is being retried (a metric of reconnections). */
  | { readonly type: 'retrying' };

/** What the task returns (as a Reply: a failure crosses the thread boundary as data). */
export interface ShardOutcome {
  readonly finished: boolean;
  /** A handoff snapshot was written at the end (the next owner replays nothing). */
  readonly handedOff?: boolean;
  readonly rowsApplied: number;
  readonly records: number;
}

export type ShardTaskReply = Reply<ShardOutcome>;
