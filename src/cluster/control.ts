/**
 * The cluster's records in PostgreSQL (schema payments_cluster), beside the journal they fence:
 *   runs    one row per run: shard count, and once published, each shard's batch count and last line
 *   leases  one row per (run, shard): the owning node, a generation bumped at every change of owner,
 *           an expiry (the database's clock, so nodes' clocks never matter), finished, and a hint of
 *           how far into the stream the owner got
 *   nodes   one row per live node, with its heartbeat (for a fair share of shards)
 * Fencing: a trigger on payments.batches and payments.snapshots refuses, inside the committing
 * transaction, a write for a leased shard unless the session's payments_cluster.generation equals
 * the lease's generation (the row is read FOR SHARE, so a takeover and a commit serialize). A node
 * paused past its lease wakes up with an old generation: its commits fail, whatever it believes.
 */
import type pg from 'pg';
import { RetryingConnection } from '../journal/postgres/connection.js';
import { migrate, migrationLockKey, underSchemaLock } from '../journal/postgres/schema.js';
import type { PostgresTarget } from '../journal/postgres/url.js';

/** The setting a fenced partition's session carries (options=-c payments_cluster.generation=G). */
export const generationSetting = 'payments_cluster.generation';
/** The longest a control-plane statement may run. */
const controlStatementTimeoutMs = 20_000;
/** SQLSTATE the fence raises. */
export const fencedSqlState = 'PF001';
const clusterLockKey = 0x636c7573; // "clus"
/** Bumped when the DDL below changes (stored as the fence function's comment). */
const clusterSchemaVersion = 'payments_cluster 3';

const ddl = `
CREATE SCHEMA IF NOT EXISTS payments_cluster;
CREATE TABLE IF NOT EXISTS payments_cluster.runs (
  name text PRIMARY KEY,
  shards int NOT NULL,
  published boolean NOT NULL DEFAULT false,
  batches int[],
  last_lines bigint[],
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS payments_cluster.leases (
  run text NOT NULL REFERENCES payments_cluster.runs (name) ON DELETE CASCADE,
  shard int NOT NULL,
  node text,
  generation bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL DEFAULT '-infinity',
  finished boolean NOT NULL DEFAULT false,
  stream_seq bigint NOT NULL DEFAULT 0,
  changes int NOT NULL DEFAULT 0,
  PRIMARY KEY (run, shard)
);
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS claimed_at timestamptz;
-- Runs from before the column were read with ','; a new run's is recorded before its first batch.
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS delimiter text DEFAULT ',';
ALTER TABLE payments_cluster.runs ALTER COLUMN delimiter DROP DEFAULT;
CREATE TABLE IF NOT EXISTS payments_cluster.nodes (
  id text PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION payments_cluster.fence() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  owner bigint;
  mine text := current_setting('${generationSetting}', true);
BEGIN
  -- A batch's INSERT and its COMMIT go in one message, so its row lock is never held across a
  -- client's pause; a snapshot's transaction takes several round trips, and a paused owner must not
  -- keep the lease row locked (a claim skips locked rows): read it without a lock there.
  IF TG_TABLE_NAME = 'batches' THEN
    SELECT generation INTO owner FROM payments_cluster.leases
      WHERE run = NEW.journal AND shard = NEW.partition FOR SHARE;
  ELSE
    SELECT generation INTO owner FROM payments_cluster.leases
      WHERE run = NEW.journal AND shard = NEW.partition;
  END IF;
  IF NOT FOUND THEN
    RETURN NEW;
  END IF;
  IF mine IS NULL OR mine = '' OR mine::bigint <> owner THEN
    RAISE EXCEPTION 'fenced: shard % of run % belongs to lease generation %, this session writes for %',
      NEW.partition, NEW.journal, owner, coalesce(nullif(mine, ''), 'none')
      USING ERRCODE = '${fencedSqlState}';
  END IF;
  RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION payments_cluster.fence() IS '${clusterSchemaVersion}';
DROP TRIGGER IF EXISTS fence ON payments.batches;
CREATE TRIGGER fence BEFORE INSERT ON payments.batches FOR EACH ROW EXECUTE FUNCTION payments_cluster.fence();
DROP TRIGGER IF EXISTS fence ON payments.snapshots;
CREATE TRIGGER fence BEFORE INSERT ON payments.snapshots FOR EACH ROW EXECUTE FUNCTION payments_cluster.fence();
`;

/** Creates (or brings up to date) the journal schema, then the cluster's, once per database. */
export async function ensureClusterSchema(client: pg.Client, display: string): Promise<void> {
  await migrate(client, display);
  const current = async () =>
    (await client.query(`SELECT obj_description(to_regprocedure('payments_cluster.fence()'), 'pg_proc') AS version`))
      .rows[0]?.version === clusterSchemaVersion;
  if (await current()) return;
  // Checked again under the lock: re-creating the triggers would lock the journal's tables.
  await underSchemaLock(client, clusterLockKey, async () => void ((await current()) || (await client.query(ddl))));
}

export interface RunRow {
  name: string;
  shards: number;
  published: boolean;
  batches: number[] | null;
  lastLines: number[] | null;
  /** The field delimiter its input was read with (',' for runs recorded before it was kept). */
  delimiter: string;
}

export interface LeaseRow {
  run: string;
  shard: number;
  node: string | null;
  generation: number;
  finished: boolean;
  streamSeq: number;
  live: boolean;
}

export interface Claim {
  run: string;
  shard: number;
  shards: number;
  generation: number;
  streamSeq: number;
  /** The node that held the lease before (undefined for a shard never claimed). */
  previousOwner?: string;
  /** Taken before the lease ran out, its owner being gone (see goneNodesSql). */
  early?: boolean;
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
 * What remains: an owner whose control session alone was cut (a network blip, pg_terminate_backend)
 * and that does not reconnect within goneAfterMs looks gone until it does; a shard taken in that window moves once more
 * than needed (fencing keeps it correct). SIGSTOP, a long GC or a network partition leave the
 * sessions in place: those owners keep their shards until the lease runs out. A pooler in
 * transaction mode would hide sessions (the journal's advisory locks already need session-level
 * connections). The name is compared as PostgreSQL stores it: cut to 63 bytes.
 */
/**
 * A node without a session counts as gone only once its last heartbeat is this old (two ticks at the
 * default lease): a live node whose control connection dropped on an error (the connection is
 * dropped and made again at its next call) heartbeats again within a tick, and keeps its shards.
 */
export const goneAfterMs = 1000;
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

/** The control plane's queries, over one retrying connection. */
export class ClusterControl {
  readonly connection: RetryingConnection;

  constructor(
    readonly target: PostgresTarget,
    applicationName: string,
    onRetry?: (attempt: number, delayMs: number, error: unknown) => void,
  ) {
    // A control query never waits long (a tick that hung would stop heartbeats and renewals).
    const onConnect = async (c: pg.Client) =>
      void (await c.query(`SET statement_timeout = ${controlStatementTimeoutMs}`));
    this.connection = new RetryingConnection(target, applicationName, onConnect, onRetry);
  }

  async setup(): Promise<void> {
    await this.connection.run('creating the cluster schema', (c) => ensureClusterSchema(c, this.target.display));
  }

  /** Registers a run and its shards' leases (nothing changes when it exists). */
  async addRun(run: string, shards: number): Promise<void> {
    await this.connection.run('registering the run', async (c) => {
      await c.query('INSERT INTO payments_cluster.runs (name, shards) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        run,
        shards,
      ]);
      await c.query(
        `INSERT INTO payments_cluster.leases (run, shard) SELECT $1, s FROM generate_series(0, $2 - 1) s
         ON CONFLICT DO NOTHING`,
        [run, shards],
      );
    });
  }

  /**
   * Records the delimiter a run's input is read with, before its first batch is published (a second
   * submit must cut the same batches); returns the one recorded, which may be another.
   */
  async recordDelimiter(run: string, delimiter: string): Promise<string> {
    return this.connection.run('recording the delimiter', async (c) => {
      await c.query('UPDATE payments_cluster.runs SET delimiter = $2 WHERE name = $1 AND delimiter IS NULL', [
        run,
        delimiter,
      ]);
      const r = await c.query('SELECT delimiter FROM payments_cluster.runs WHERE name = $1', [run]);
      return r.rows[0].delimiter as string;
    });
  }

  async markPublished(run: string, batches: number[], lastLines: number[]): Promise<void> {
    await this.connection.run('recording the published run', (c) =>
      c.query('UPDATE payments_cluster.runs SET published = true, batches = $2, last_lines = $3 WHERE name = $1', [
        run,
        batches,
        lastLines,
      ]),
    );
  }

  async readRun(run: string): Promise<RunRow | undefined> {
    return this.connection.run('reading the run', async (c) => {
      const r = await c.query(
        'SELECT name, shards, published, batches, last_lines, delimiter FROM payments_cluster.runs WHERE name = $1',
        [run],
      );
      const row = r.rows[0];
      if (row === undefined) return undefined;
      return {
        name: row.name,
        shards: row.shards,
        published: row.published,
        batches: row.batches,
        lastLines: row.last_lines?.map(Number) ?? null,
        delimiter: row.delimiter ?? ',',
      };
    });
  }

  async leases(run: string): Promise<LeaseRow[]> {
    return this.connection.run('reading the leases', async (c) => {
      const r = await c.query(
        `SELECT run, shard, node, generation, finished, stream_seq, expires_at > now() AS live
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
      }));
    });
  }

  /**
   * Heartbeat of a node. Returns how many nodes are live (heartbeat within `liveMs`), how many
   * shards are yet to finish, and the fewest live shards another live node holds (for balancing).
   */
  async heartbeat(
    node: string,
    liveMs: number,
  ): Promise<{
    liveNodes: number;
    openShards: number;
    openRunShards: number;
    othersMinOwned: number | undefined;
    mine: number;
  }> {
    return this.connection.run('heartbeat', async (c) => {
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
    });
  }

  async leaveCluster(node: string): Promise<void> {
    await this.connection.run('leaving', (c) => c.query('DELETE FROM payments_cluster.nodes WHERE id = $1', [node]));
  }

  /**
   * Claims one shard that no live node owns (its lease expired or was released, or its owner is
   * provably gone: see goneNodesSql), bumping its generation; undefined when there is none.
   */
  async claim(node: string, leaseMs: number): Promise<Claim | undefined> {
    return this.connection.run('claiming a shard', async (c) => {
      const r = await c.query(
        `WITH ${goneNodesSql},
              pick AS (
                SELECT run, shard, node AS previous, expires_at >= now() AS early FROM payments_cluster.leases
                 WHERE NOT finished AND (expires_at < now() OR node IN (SELECT id FROM gone))
                 ORDER BY run, shard LIMIT 1 FOR UPDATE SKIP LOCKED)
         UPDATE payments_cluster.leases l
            SET node = $1, generation = l.generation + 1, changes = l.changes + 1,
                expires_at = now() + $2 * interval '1 millisecond', claimed_at = now()
           FROM pick, payments_cluster.runs r
          WHERE l.run = pick.run AND l.shard = pick.shard AND r.name = l.run
          RETURNING l.run, l.shard, l.generation, l.stream_seq, r.shards, pick.previous, pick.early`,
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
        previousOwner: row.previous ?? undefined,
        early: row.early,
      };
    });
  }

  /**
   * Renews the leases a node holds (run, shard, generation, stream position reached); returns the
   * keys `run/shard` of those still its own. A lease whose generation moved on is lost.
   */
  async renew(
    node: string,
    leaseMs: number,
    held: readonly { run: string; shard: number; generation: number; streamSeq: number }[],
  ): Promise<Set<string>> {
    if (held.length === 0) return new Set();
    return this.connection.run('renewing leases', async (c) => {
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
    });
  }

  /** Gives a shard back (rebalancing, shutdown): the next claim takes it at once. */
  async release(run: string, shard: number, generation: number, streamSeq: number): Promise<void> {
    await this.connection.run('releasing a shard', (c) =>
      c.query(
        `UPDATE payments_cluster.leases SET expires_at = '-infinity', stream_seq = greatest(stream_seq, $4)
          WHERE run = $1 AND shard = $2 AND generation = $3`,
        [run, shard, generation, streamSeq],
      ),
    );
  }

  async finish(run: string, shard: number, generation: number, streamSeq: number): Promise<void> {
    await this.connection.run('finishing a shard', (c) =>
      c.query(
        `UPDATE payments_cluster.leases SET finished = true, expires_at = '-infinity', stream_seq = greatest(stream_seq, $4)
          WHERE run = $1 AND shard = $2 AND generation = $3`,
        [run, shard, generation, streamSeq],
      ),
    );
  }

  /**
   * Ends the session still holding a partition's writer lock (a node paused past its lease keeps
   * its connection, and with it the advisory lock): its transaction in flight is rolled back.
   */
  async evictPartitionHolder(journal: string, shard: number): Promise<number> {
    return this.connection.run('evicting the previous owner', async (c) => {
      const r = await c.query(
        `SELECT count(pg_terminate_backend(l.pid))::int AS n FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
            AND l.classid = ((hashtext($1) # ${migrationLockKey})::bigint & 4294967295)::oid
            AND l.objid = $2::bigint::oid AND l.pid <> pg_backend_pid()`,
        [journal, shard],
      );
      return r.rows[0].n as number;
    });
  }

  /** The lines each partition of a journal has committed up to (what a shard has applied). */
  async committedLines(run: string, shards: number): Promise<number[]> {
    return this.connection.run('reading progress', async (c) => {
      const r = await c.query(
        'SELECT partition, max(last_line) AS last FROM payments.batches WHERE journal = $1 GROUP BY partition',
        [run],
      );
      const lines = new Array<number>(shards).fill(0);
      for (const row of r.rows) lines[row.partition] = Number(row.last);
      return lines;
    });
  }

  /** Every rejected record of a run's journal: line → reason code. */
  async rejectedLines(run: string): Promise<Map<number, number>> {
    return this.connection.run('reading rejections', async (c) => {
      const r = await c.query({
        text: 'SELECT line, reason FROM payments.records WHERE journal = $1 AND reason IS NOT NULL',
        values: [run],
        rowMode: 'array',
      });
      return new Map(r.rows.map((row: unknown[]) => [Number(row[0]), Number(row[1])]));
    });
  }

  async close(): Promise<void> {
    await this.connection.drop();
  }
}
