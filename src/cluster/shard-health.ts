/**
 * A shard's health in the control plane (payments_cluster.leases, .dead_letters): a failed shard is
 * given back with a backoff before its next claim, and quarantined after shardFailuresMax failures
 * in a row without progress; a shard that cannot go on (a batch missing or damaged, its stream
 * gone) is quarantined at once. A quarantined shard is never claimed until a submit repairs it
 * (republishes what its journal lacks) or an operator retries it (`payments shards --retry`).
 */
import type pg from 'pg';
import { shardFailuresMax, shardRetryDelayFirstMs, shardRetryDelayMaxMs } from '../constants.js';
import { backoffMs } from '../resilience.js';
import type { HeldLease } from './leases.js';

/** Why a message went to the dead letters (the metric's `reason` label: a closed set). */
export type DeadLetterReason =
  | 'no-batch-number'
  | 'bad-headers'
  | 'other-journal'
  | 'undecodable'
  | 'check-failed'
  | 'not-sealed'
  | 'unknown-key'
  | 'unauthenticated';

export interface DeadLetter {
  readonly run: string;
  readonly shard: number;
  readonly streamSeq: number;
  /** The batch number the message claimed (as written), if any. */
  readonly batch: string | undefined;
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly headers: Record<string, string[]>;
}

export interface ReleaseOutcome {
  readonly failures: number;
  readonly quarantined: boolean;
}

/**
 * Gives a failed shard back: its next claim waits a backoff (doubling with each failure in a row,
 * half of it jittered, up to shardRetryDelayMaxMs). A failure counts as in a row unless the failed
 * owner recovered its journal further than the owner that failed before (`recoveredLine`: what is
 * durable, unlike a batch handed to the journal, whose commit may still fail). The
 * shardFailuresMax-th failure in a row quarantines it with `cause`.
 */
export async function releaseFailed(
  c: pg.Client,
  lease: HeldLease,
  recoveredLine: number,
  cause: string,
): Promise<ReleaseOutcome | undefined> {
  const r = await c.query(
    `WITH next AS (
       SELECT CASE WHEN $5::bigint > coalesce(failed_line, -1) THEN 1 ELSE failures + 1 END AS failures
         FROM payments_cluster.leases
        WHERE run = $1 AND shard = $2 AND generation = $3 AND NOT finished)
     UPDATE payments_cluster.leases l
        SET failures = next.failures, failed_line = greatest(l.failed_line, $5::bigint), expires_at = least(l.expires_at, now()),
            stream_seq = greatest(l.stream_seq, $4),
            retry_at = now() + ($6::float8[])[least(next.failures, $7)] * interval '1 millisecond',
            quarantined = next.failures >= $7,
            cause = CASE WHEN next.failures >= $7 THEN format('failed %s times in a row; the last: %s', next.failures, $8::text)
                         ELSE $8 END
       FROM next
      WHERE l.run = $1 AND l.shard = $2 AND l.generation = $3
      RETURNING l.failures, l.quarantined`,
    [
      lease.run,
      lease.shard,
      lease.generation,
      lease.streamSeq,
      recoveredLine,
      // The delay after each number of failures in a row (half jitter: the resilience library's backoff).
      Array.from({ length: shardFailuresMax }, (_, f) =>
        backoffMs(f, { firstMs: shardRetryDelayFirstMs, maxMs: shardRetryDelayMaxMs }, 'half'),
      ),
      shardFailuresMax,
      cause,
    ],
  );
  const row = r.rows[0];
  return row === undefined ? undefined : { failures: row.failures, quarantined: row.quarantined };
}

/** Quarantines a shard this lease generation holds; false when the lease moved on (nothing changed). */
export async function quarantine(c: pg.Client, lease: HeldLease, cause: string): Promise<boolean> {
  const r = await c.query(
    `UPDATE payments_cluster.leases SET quarantined = true, cause = $5, expires_at = least(expires_at, now()),
            stream_seq = greatest(stream_seq, $4)
      WHERE run = $1 AND shard = $2 AND generation = $3 AND NOT finished`,
    [lease.run, lease.shard, lease.generation, lease.streamSeq, cause],
  );
  return r.rowCount === 1;
}

/**
 * Quarantines a shard whoever holds it, moving its generation on so that its owner's commits are
 * refused from now on: a submit found that the run's stream cannot finish it (no end marker left
 * on its subject). False when it is finished, or quarantined already.
 */
export async function quarantineStarved(c: pg.Client, run: string, shard: number, cause: string): Promise<boolean> {
  const r = await c.query(
    `UPDATE payments_cluster.leases SET quarantined = true, cause = $3, generation = generation + 1,
            expires_at = least(expires_at, now())
      WHERE run = $1 AND shard = $2 AND NOT finished AND NOT quarantined`,
    [run, shard, cause],
  );
  return r.rowCount === 1;
}

/**
 * Lifts the quarantine of these shards of a run (a repair, or an operator's retry): claimable at
 * once, the failure count cleared; `streamSeq` (when given) is where its next owner reads from.
 * Returns the shards lifted.
 */
export async function lift(
  c: pg.Client,
  run: string,
  shards: readonly number[],
  streamSeq?: number,
): Promise<number[]> {
  const r = await c.query(
    `UPDATE payments_cluster.leases SET quarantined = false, cause = NULL, failures = 0, retry_at = '-infinity',
            stream_seq = coalesce($3, stream_seq)
      WHERE run = $1 AND shard = ANY($2::int[]) AND quarantined AND NOT finished
      RETURNING shard`,
    [run, shards, streamSeq ?? null],
  );
  return r.rows.map((row) => row.shard as number).sort((a, b) => a - b);
}

/** Keeps a dead letter (once: a shard read again finds the same message); true when it is new. */
export async function addDeadLetter(c: pg.Client, node: string, letter: DeadLetter): Promise<boolean> {
  const r = await c.query(
    `INSERT INTO payments_cluster.dead_letters (run, shard, stream_seq, batch, reason, detail, headers, node)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
    [
      letter.run,
      letter.shard,
      letter.streamSeq,
      letter.batch ?? null,
      letter.reason,
      letter.detail,
      JSON.stringify(letter.headers),
      node,
    ],
  );
  return r.rowCount === 1;
}

export interface StoredDeadLetter extends DeadLetter {
  readonly node: string;
  readonly at: Date;
}

/** A run's dead letters, by shard and stream position. */
export async function readDeadLetters(c: pg.Client, run: string): Promise<StoredDeadLetter[]> {
  const r = await c.query(
    `SELECT run, shard, stream_seq, batch, reason, detail, headers, node, at FROM payments_cluster.dead_letters
      WHERE run = $1 ORDER BY shard, stream_seq`,
    [run],
  );
  return r.rows.map((row) => ({
    run: row.run,
    shard: row.shard,
    streamSeq: Number(row.stream_seq),
    batch: row.batch ?? undefined,
    reason: row.reason,
    detail: row.detail,
    headers: row.headers,
    node: row.node,
    at: row.at,
  }));
}
