/** A shard runner's status (an explicit union, not flags), and what a runner needs from its node. */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { LogConfig } from '../ops/logger.js';
import type { HeldLease } from './leases.js';
import type { RunSeal } from './message-seal.js';
import type { DeadLetter, DeadLetterReason } from './shard-health.js';

/** What a shard is on this node, one at a time (the metric's `state` label names the node's view of it). */
export type ShardStatus =
  /** Waiting for the same shard's previous runner here to let go. */
  | { readonly kind: 'waiting' }
  | { readonly kind: 'recovering' }
  | { readonly kind: 'running' }
  /** Lease lost, given back, or the node stops: reading has ended, the worker is closing. */
  | { readonly kind: 'stopping' }
  | { readonly kind: 'finished' }
  /** Failed (the node gives it back with a backoff; too many failures in a row quarantine it). */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** Cannot go on (a batch missing or damaged, its stream gone): recorded; never claimed until repaired. */
  | { readonly kind: 'quarantined'; readonly cause: string };

/** The state a status is shown as in metrics (payments_node_shard_state). */
export type ShardState = 'recovering' | 'running' | 'failing' | 'quarantined' | 'finished';

export function stateOf(status: ShardStatus): ShardState {
  switch (status.kind) {
    case 'waiting':
    case 'recovering':
      return 'recovering';
    case 'running':
    case 'stopping':
      return 'running';
    case 'failed':
      return 'failing';
    default:
      return status.kind;
  }
}

export interface ShardMetrics {
  rowsApplied(run: string, shard: number, rows: number): void;
  batchApplied(run: string, shard: number, ms: number, commitMs: number): void;
  lag(run: string, shard: number, pending: number): void;
  shardState(run: string, shard: number, status: ShardStatus): void;
  deadLetter(reason: DeadLetterReason): void;
  reconnected(server: 'postgres' | 'nats'): void;
}

/** The control-plane calls a runner makes (the node runs them one at a time on its connection). */
export interface RunnerControl {
  finish(run: string, shard: number, generation: number, streamSeq: number): Promise<void>;
  /** False when the lease moved on (another owner now). */
  quarantine(lease: HeldLease, cause: string): Promise<boolean>;
  deadLetter(letter: DeadLetter): Promise<boolean>;
}

/** A shard's trace span attributes (claim, handoff). */
export function shardSpanAttributes(claim: { run: string; shard: number; generation: number }, node: string) {
  return {
    'payments.run': claim.run,
    'payments.shard': claim.shard,
    'payments.generation': claim.generation,
    'payments.node': node,
  };
}

/** A batch handed to the shard's worker: its stream sequence, last line, and the stream's backlog then. */
export interface Sent {
  readonly seq: number;
  readonly lastLine: number;
  readonly pending: number;
}

/** What a shard's runner (shard-runner.ts) works with, from its node. */
export interface RunnerDeps {
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
  readonly keys: RunSeal['keys']; // a sealed run's journal and messages need its key
}
