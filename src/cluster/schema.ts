/**
 * The cluster's tables and fence in PostgreSQL (schema payments_cluster), beside the journal they fence:
 *   runs    one row per run: shard count, the stream it is published to (its creation time), and
 *           once published, each shard's batch count and last line
 *   leases  one row per (run, shard): the owning node, a generation bumped at every change of owner,
 *           an expiry (the database's clock, so nodes' clocks never matter), finished, and a hint of
 *           how far into the stream the owner got
 *           and, for a shard that failed, its failure count, when it may be claimed again (backoff)
 *           and whether it is quarantined (never claimed until a submit repairs it or an operator
 *           retries it) with the cause
 *   nodes   one row per live node, with its heartbeat (for a fair share of shards)
 *   dead_letters  the messages of a shard's subject that were not a valid batch of the run
 * Rows expire (expiry.ts): runs finished or abandoned, and nodes without a heartbeat, after a while.
 * Fencing: a trigger on payments.batches and payments.snapshots refuses, inside the committing
 * transaction, a write for a leased shard unless the session's payments_cluster.generation equals
 * the lease's generation. The lease row is read FOR SHARE, batches and snapshots alike, so a
 * takeover (whose claim skips a locked row) and a commit serialize: a write that passed the fence
 * commits before the new owner recovers. A node paused past its lease wakes up with an old
 * generation: its commits fail, whatever it believes. No session is ever ended to evict it, so the
 * nodes' role needs no pg_signal_backend: a batch's INSERT and COMMIT go in one message (no lock is
 * held across a pause), and a snapshot's transaction, whose fenced INSERT is one round trip before
 * its COMMIT, is ended by the server (idle_in_transaction_session_timeout, set on every fenced
 * session) if its owner pauses in between. Both sides (submit, and a node's shards) name a run's
 * journal with fencedJournalUrl.
 */
import type pg from 'pg';
import { pgFenceSetting } from '../constants.js';
import { migrate, schemaCurrent, underSchemaLock } from '../journal/postgres/schema.js';

/**
 * A fenced session's transaction left idle this long is ended by the server: a snapshot's owner
 * paused between its fenced INSERT and its COMMIT would otherwise keep the lease row locked, and no
 * claim would take the shard. A live owner's transaction is never idle for more than a round trip.
 */
const fencedIdleInTransactionMs = 5000;
/** SQLSTATE the fence raises. */
const fencedSqlState = 'PF001';
const clusterLockKey = 0x636c7573; // "clus"
/** Bumped when the DDL below changes (stored as the fence function's comment). */
const clusterSchemaVersion = 'payments_cluster 6';

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
-- Liveness: a shard that failed waits retry_at before its next claim (backoff), and after too many
-- failures, or a message it cannot go past, is quarantined (never claimed) with its cause.
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS failures int NOT NULL DEFAULT 0;
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS retry_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS quarantined boolean NOT NULL DEFAULT false;
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS cause text;
-- The journal's line when the failed owner recovered: a later failure past it made progress.
ALTER TABLE payments_cluster.leases ADD COLUMN IF NOT EXISTS failed_line bigint;
-- Each submit of a run counts (its repair copies get message ids of their own), sets the run's
-- deadline, and touches it; a run untouched and unfinished past the expiry is abandoned.
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS submits int NOT NULL DEFAULT 0;
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS deadline_at timestamptz;
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS touched_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS finished_at timestamptz;
-- The stream the run is published to, by its creation time (a stream made again starts its numbers over).
ALTER TABLE payments_cluster.runs ADD COLUMN IF NOT EXISTS stream_created text;
-- Messages of a shard's subject that are not a valid batch of the run: never applied, kept here.
CREATE TABLE IF NOT EXISTS payments_cluster.dead_letters (
  run text NOT NULL REFERENCES payments_cluster.runs (name) ON DELETE CASCADE,
  shard int NOT NULL,
  stream_seq bigint NOT NULL,
  batch text,
  reason text NOT NULL,
  detail text NOT NULL,
  headers jsonb NOT NULL,
  node text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run, shard, stream_seq)
);
CREATE OR REPLACE FUNCTION payments_cluster.fence() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  owner bigint;
  mine text := current_setting('${pgFenceSetting}', true);
BEGIN
  -- Under a share lock, held until COMMIT: a claim of the shard (FOR UPDATE SKIP LOCKED) waits for
  -- this write to commit or roll back, so the new owner recovers whatever passed the fence.
  SELECT generation INTO owner FROM payments_cluster.leases
    WHERE run = NEW.journal AND shard = NEW.partition FOR SHARE;
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

/** Whether both schemas are this program's versions: a quick read, without a lock (see schemaCurrent). */
export async function clusterSchemaCurrent(client: pg.Client, display: string): Promise<boolean> {
  return (await schemaCurrent(client, display)) && (await clusterCurrent(client));
}

const clusterCurrent = async (client: pg.Client): Promise<boolean> =>
  (await client.query(`SELECT obj_description(to_regprocedure('payments_cluster.fence()'), 'pg_proc') AS version`))
    .rows[0]?.version === clusterSchemaVersion;

/** Creates (or brings up to date) the journal schema, then the cluster's, once per database. */
export async function ensureClusterSchema(client: pg.Client, display: string): Promise<void> {
  await migrate(client, display);
  const current = () => clusterCurrent(client);
  if (await current()) return;
  // Checked again under the lock: re-creating the triggers would lock the journal's tables.
  await underSchemaLock(client, clusterLockKey, async () => void ((await current()) || (await client.query(ddl))));
}

/** A PostgreSQL URL naming the run's journal, with the lease generation as a session setting (when given). */
export function fencedJournalUrl(journalUrl: string, run: string, generation: number | undefined): string {
  const url = new URL(journalUrl);
  url.searchParams.set('journal', run);
  if (generation !== undefined) {
    // After the operator's own options (the last -c of a setting wins, so the fence's do).
    const fence = `-c ${pgFenceSetting}=${generation} -c idle_in_transaction_session_timeout=${fencedIdleInTransactionMs}`;
    const own = url.searchParams.get('options');
    url.searchParams.set('options', own === null || own.trim() === '' ? fence : `${own} ${fence}`);
  }
  return url.toString();
}
