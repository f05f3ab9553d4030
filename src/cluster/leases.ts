/** The shard leases and the nodes that hold them (payments_cluster.leases, .nodes): the queries, on one client. */
import type pg from 'pg';
import { goneAfterMs } from '../constants.js';

export interface LeaseRow {
  run: string;
  shard: number;
  node: string | null;
  generation: number;
  finished: boolean;
  streamSeq: number;
  live: boolean;
  /** Quarantined: never claimed until repaired or retried; `cause` says why. */
  quarantined: boolean;
  /** Why it last failed, or is quarantined. */
  cause: string | null;
  /** Failures in a row (a shard that progresses starts again at one). */
  failures: number;
}

export interface Claim {
  run: string;
  shard: number;
  shards: number;
  generation: number;
  streamSeq: number;
  /** The id of the run's journal (payments.journals.id): its messages are stamped with it. */
  journalId?: number;
  /** The node that held the lease before (undefined for a shard never claimed). */
  previousOwner?: string;
  /** Taken before the lease ran out, its owner being gone (see goneNodesSql). */
  early?: boolean;
  /** The key id the run's journal is sealed with: its messages are sealed too (message-seal.ts); undefined when not sealed. */
  sealKeyId?: string;
}

/** A node's control connection is named this plus the node id (node.ts): it is how a node is seen alive. */
const nodeApplicationPrefix = 'payments node ';

/**
 * The nodes that are provably gone although their leases have not run out: SQL for a CTE `gone(id)`.
 *
 * A SIGKILLed (or crashed) node's sockets are closed by its OS, so its PostgreSQL sessions end at
 * once; waiting out its lease (3 s by default) is waiting for nothing. So a lease may also be
 * claimed when its owner has no control session (application_name `payments node <id>`, which
 * pg_stat_activity shows to any role). But a session is also missing when the server restarted:
 * every session ends, and an owner reconnects only at its next tick, after a backoff. Taking every
 * shard of every node then would be a takeover storm. The guard: an owner counts as gone only if
 * it heartbeated after the claimer's own session began. A restart ends the claimer's session too,
 * so such a heartbeat was written to the server as it runs now, by an owner that had a session on
 * it; that session has ended since, and no restart ended it (that would have ended the claimer's).
 * After a restart every node's last heartbeat is older than every session, so nothing is taken
 * early until an owner has reconnected and heartbeated, and by then its session is there. A
 * claimer that just reconnected takes nothing early either: it falls back to the lease.
 *
 * What remains: an owner whose control session alone was cut (a network blip, a server-side timeout)
 * and that does not reconnect within goneAfterMs looks gone until it does; a shard taken in that window moves once more
 * than needed (fencing keeps it correct). SIGSTOP, a long GC or a network partition leave the
 * sessions in place: those owners keep their shards until the lease runs out. A pooler in
 * transaction mode would hide sessions (the journal's advisory locks already need session-level
 * connections). The name is compared as PostgreSQL stores it: cut to 63 bytes.
 */
const goneNodesSql = `
  gone AS (
    SELECT n.id FROM payments_cluster.nodes n
     WHERE n.heartbeat_at > (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
       AND n.heartbeat_at < now() - interval '${goneAfterMs} milliseconds'
       AND NOT EXISTS (
         SELECT 1 FROM pg_stat_activity a
          WHERE a.application_name = '${nodeApplicationPrefix}' || n.id
             OR (octet_length(a.application_name) >= 60
                 AND starts_with('${nodeApplicationPrefix}' || n.id, a.application_name)))
  )`;

export interface Heartbeat {
  /** Nodes whose heartbeat is younger than liveMs (at least 1: this one). */
  liveNodes: number;
  /** Shards not finished, over all runs. */
  openShards: number;
  /** Every shard of the runs not finished (the work shared out). */
  openRunShards: number;
  /** The fewest shards another live node holds (undefined when there is none). */
  othersMinOwned: number | undefined;
  /** The shards this node holds. */
  mine: number;
}

/** Shards of a run, with who holds each and whether its lease is live. */
export async function readLeases(c: pg.Client, run: string): Promise<LeaseRow[]> {
  const r = await c.query(
    `SELECT run, shard, node, generation, finished, stream_seq, expires_at > now() AS live, quarantined, cause, failures
     FROM payments_cluster.leases WHERE run = $1 ORDER BY shard`,
    [run],
  );
  return r.rows.map((row) => ({
    run: row.run,
    shard: row.shard,
    node: row.node,
    generation: Number(row.generation),
    finished: row.finished,
    streamSeq: Number(row.stream_seq),
    live: row.live,
    quarantined: row.quarantined,
    cause: row.cause,
    failures: row.failures,
  }));
}

/** Records a node's heartbeat; returns the load of the cluster as it sees it (see Heartbeat). */
export async function heartbeat(c: pg.Client, node: string, liveMs: number): Promise<Heartbeat> {
  await c.query(
    `INSERT INTO payments_cluster.nodes (id) VALUES ($1)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`,
    [node],
  );
  // A node's load: the shards of unfinished runs it runs (live lease) or has finished.
  const r = await c.query(
    `WITH ${goneNodesSql},
          live AS (SELECT id FROM payments_cluster.nodes
                    WHERE heartbeat_at > now() - $1 * interval '1 millisecond' AND id NOT IN (SELECT id FROM gone)),
          open_runs AS (SELECT DISTINCT run FROM payments_cluster.leases WHERE NOT finished),
          load AS (
            SELECT live.id, count(l.shard)::int AS n FROM live
              LEFT JOIN payments_cluster.leases l ON l.node = live.id AND l.run IN (SELECT run FROM open_runs)
                   AND (l.finished OR l.expires_at > now())
             GROUP BY live.id)
     SELECT (SELECT count(*) FROM live)::int AS live,
            (SELECT count(*) FROM payments_cluster.leases WHERE NOT finished)::int AS open,
            (SELECT count(*) FROM payments_cluster.leases WHERE run IN (SELECT run FROM open_runs))::int AS shards,
            (SELECT min(n) FROM load WHERE id <> $2)::int AS others_min,
            (SELECT n FROM load WHERE id = $2)::int AS mine`,
    [liveMs, node],
  );
  const row = r.rows[0];
  return {
    liveNodes: Math.max(1, row.live),
    openShards: row.open,
    openRunShards: row.shards,
    othersMinOwned: row.others_min ?? undefined,
    mine: row.mine ?? 0,
  };
}

/**
 * Claims one shard that no live node owns (its lease expired or was released, or its owner is
 * provably gone: see goneNodesSql), bumping its generation; undefined when there is none.
 */
export async function claimShard(c: pg.Client, node: string, leaseMs: number): Promise<Claim | undefined> {
  const r = await c.query(
    `WITH ${goneNodesSql},
          pick AS (
            SELECT run, shard, node AS previous, expires_at >= now() AS early FROM payments_cluster.leases
             WHERE NOT finished AND NOT quarantined AND retry_at <= now()
               AND (expires_at < now() OR node IN (SELECT id FROM gone))
               -- Not before submit has made the run's stream: a reader would take it for deleted.
               AND EXISTS (SELECT 1 FROM payments_cluster.runs r WHERE r.name = leases.run
                                AND (r.stream_created IS NOT NULL OR r.published))
             ORDER BY run, shard LIMIT 1 FOR UPDATE SKIP LOCKED)
     UPDATE payments_cluster.leases l
        SET node = $1, generation = l.generation + 1, changes = l.changes + 1,
            expires_at = now() + $2 * interval '1 millisecond', claimed_at = now()
       FROM pick, payments_cluster.runs r
      WHERE l.run = pick.run AND l.shard = pick.shard AND r.name = l.run
      RETURNING l.run, l.shard, l.generation, l.stream_seq, r.shards, pick.previous, pick.early,
                (SELECT seal_key_id FROM payments.journals WHERE name = l.run) AS seal_key_id,
                (SELECT id FROM payments.journals WHERE name = l.run) AS journal_id`,
    [node, leaseMs],
  );
  const row = r.rows[0];
  if (row === undefined) return undefined;
  return {
    run: row.run,
    shard: row.shard,
    shards: row.shards,
    generation: Number(row.generation),
    streamSeq: Number(row.stream_seq),
    // None when the run's journal was removed under it: the shard then fails visibly (and is
    // quarantined), and takes no message.
    ...(row.journal_id === null ? {} : { journalId: row.journal_id as number }),
    previousOwner: row.previous ?? undefined,
    early: row.early,
    ...(row.seal_key_id ? { sealKeyId: row.seal_key_id as string } : {}),
  };
}

/** A lease held: its shard, its generation and how far into the stream its owner got. */
export interface HeldLease {
  run: string;
  shard: number;
  generation: number;
  streamSeq: number;
}

/**
 * Renews the leases a node holds; returns the keys `run/shard` of those still its own. A lease whose
 * generation moved on is lost.
 */
export async function renewLeases(
  c: pg.Client,
  node: string,
  leaseMs: number,
  held: readonly HeldLease[],
): Promise<Set<string>> {
  const r = await c.query(
    `UPDATE payments_cluster.leases l
        SET expires_at = now() + $2 * interval '1 millisecond', stream_seq = greatest(l.stream_seq, x.seq)
       FROM unnest($3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS x(run, shard, gen, seq)
      WHERE l.run = x.run AND l.shard = x.shard AND l.generation = x.gen AND l.node = $1 AND NOT l.finished
      RETURNING l.run, l.shard`,
    [
      node,
      leaseMs,
      held.map((h) => h.run),
      held.map((h) => h.shard),
      held.map((h) => h.generation),
      held.map((h) => h.streamSeq),
    ],
  );
  return new Set(r.rows.map((row) => `${row.run}/${row.shard}`));
}

/**
 * Ends a lease of this generation at once (given back), or for good (`finished`: the run's
 * finished_at is set with its last shard). It expires now, which is when it became unowned.
 */
export async function endLease(c: pg.Client, lease: HeldLease, finished: boolean): Promise<void> {
  await c.query(
    `UPDATE payments_cluster.leases SET finished = finished OR $5, expires_at = least(expires_at, now()),
            stream_seq = greatest(stream_seq, $4), failures = CASE WHEN $5 THEN 0 ELSE failures END
      WHERE run = $1 AND shard = $2 AND generation = $3`,
    [lease.run, lease.shard, lease.generation, lease.streamSeq, finished],
  );
  if (finished) {
    await c.query(
      `UPDATE payments_cluster.runs SET finished_at = now() WHERE name = $1 AND finished_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM payments_cluster.leases WHERE run = $1 AND NOT finished)`,
      [lease.run],
    );
    // The run's journal says so too, as a local run's does: replay --as-of-line may then ask for any
    // line, and the journal outlives the run's cluster rows (expiry.ts).
    await c.query(
      `UPDATE payments.journals j SET complete = true, updated_at = now(),
              committed_line = greatest(j.committed_line, (SELECT max(l) FROM unnest(r.last_lines) l))
         FROM payments_cluster.runs r
        WHERE j.name = $1 AND r.name = $1 AND r.finished_at IS NOT NULL AND NOT j.complete`,
      [lease.run],
    );
  }
}

/**
 * Records the stream the run's batches are now published to (by its creation time). When it is not
 * the one recorded before (deleted and made again: its sequence numbers start over), every
 * unfinished shard is read again from the new stream's start: its stream hint goes to 0 and its
 * generation moves on, so an owner still reading the old positions is fenced (its commits refused,
 * its lease lost) and the next claim reads from the start, passing over what its journal holds.
 * Returns the shards so reset (none the first time, or for the same stream).
 */
export async function adoptStream(c: pg.Client, run: string, created: string): Promise<number[]> {
  const r = await c.query(
    `WITH before AS (SELECT stream_created FROM payments_cluster.runs WHERE name = $1 FOR UPDATE),
          recorded AS (UPDATE payments_cluster.runs SET stream_created = $2
                        WHERE name = $1 AND stream_created IS DISTINCT FROM $2 RETURNING name),
          reset AS (UPDATE payments_cluster.leases
                       SET generation = generation + 1, stream_seq = 0, expires_at = least(expires_at, now())
                     WHERE run = $1 AND NOT finished
                       AND (SELECT stream_created FROM before) IS DISTINCT FROM $2
                       AND (SELECT stream_created FROM before) IS NOT NULL
                 RETURNING shard)
     SELECT shard FROM reset ORDER BY shard`,
    [run, created],
  );
  return r.rows.map((row) => row.shard as number);
}
