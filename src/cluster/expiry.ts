/**
 * What the control plane forgets, and what every node reports of the cluster as a whole.
 *
 * Expiry (run by nodes now and then): a run finished longer than `expireMs` ago, a run unfinished
 * and untouched by any submit for that long while no node holds a live lease of it (abandoned: it
 * is no longer claimed), and a node without a heartbeat for that long are deleted; a run's leases
 * and dead letters go with it. Its journal is not touched (the journal's own tooling owns it), but
 * `payments result` no longer finds an expired run.
 */
import type pg from 'pg';

export interface Expired {
  readonly runs: string[];
  readonly nodes: number;
}

export async function expire(c: pg.Client, expireMs: number): Promise<Expired> {
  const runs = await c.query(
    `DELETE FROM payments_cluster.runs r
      WHERE (r.finished_at IS NOT NULL AND r.finished_at < now() - $1 * interval '1 millisecond')
         OR (r.finished_at IS NULL AND r.touched_at < now() - $1 * interval '1 millisecond'
             AND NOT EXISTS (SELECT 1 FROM payments_cluster.leases l WHERE l.run = r.name AND l.expires_at > now()))
      RETURNING r.name`,
    [expireMs],
  );
  const nodes = await c.query(
    `DELETE FROM payments_cluster.nodes WHERE heartbeat_at < now() - $1 * interval '1 millisecond'`,
    [expireMs],
  );
  return { runs: runs.rows.map((row) => row.name as string), nodes: nodes.rowCount ?? 0 };
}

export interface ClusterView {
  /** Unfinished shards of unfinished runs with no live owner: seconds since they had one (or since the run was submitted). */
  readonly unowned: { run: string; shard: number; seconds: number }[];
  /** Unfinished runs with a deadline: whether it has passed. */
  readonly runs: { run: string; overdue: boolean }[];
  /** Quarantined shards. */
  readonly quarantined: { run: string; shard: number }[];
}

export async function clusterView(c: pg.Client): Promise<ClusterView> {
  const unowned = await c.query(
    `SELECT l.run, l.shard, extract(epoch FROM now() - greatest(l.expires_at, r.touched_at))::float8 AS seconds
       FROM payments_cluster.leases l JOIN payments_cluster.runs r ON r.name = l.run
      WHERE NOT l.finished AND r.finished_at IS NULL AND l.expires_at <= now()`,
  );
  const runs = await c.query(
    `SELECT name, deadline_at < now() AS overdue FROM payments_cluster.runs
      WHERE finished_at IS NULL AND deadline_at IS NOT NULL`,
  );
  const quarantined = await c.query('SELECT run, shard FROM payments_cluster.leases WHERE quarantined');
  return {
    quarantined: quarantined.rows.map((row) => ({ run: row.run, shard: row.shard })),
    unowned: unowned.rows.map((row) => ({ run: row.run, shard: row.shard, seconds: Math.max(0, row.seconds) })),
    runs: runs.rows.map((row) => ({ run: row.name, overdue: row.overdue })),
  };
}
