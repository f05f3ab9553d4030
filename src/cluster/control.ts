/**
 * The control plane's calls (ClusterControl), over one retrying PostgreSQL connection: the run
 * registry (payments_cluster.runs, and what a run's journal holds) here; the leases in leases.ts;
 * the tables and the fence in schema.ts.
 */
import type pg from 'pg';
import { controlStatementTimeoutMs } from '../constants.js';
import { inputChangedWhileRead } from '../journal/manifest.js';
import { RetryingConnection } from '../journal/postgres/connection.js';
import { migrationLockKey } from '../journal/postgres/schema.js';
import { readRejectedLines } from '../journal/postgres/partition-read.js';
import type { PostgresTarget } from '../journal/postgres/url.js';
import type { JournalKeyring } from '../journal/seal.js';
import {
  adoptStream,
  claimShard,
  endLease,
  heartbeat,
  readLeases,
  renewLeases,
  type Claim,
  type HeldLease,
  type Heartbeat,
  type LeaseRow,
} from './leases.js';
import { clusterSchemaCurrent, ensureClusterSchema } from './schema.js';
import { clusterView, expire, type ClusterView, type Expired } from './expiry.js';
import {
  addDeadLetter,
  lift,
  quarantine,
  quarantineStarved,
  readDeadLetters,
  releaseFailed,
  type DeadLetter,
  type ReleaseOutcome,
  type StoredDeadLetter,
} from './shard-health.js';

export interface RunRow {
  name: string;
  shards: number;
  published: boolean;
  batches: number[] | null;
  lastLines: number[] | null;
  /** The field delimiter its input was read with (',' for runs recorded before it was kept). */
  delimiter: string;
  /** A submit saw its input change while reading it: its outputs are of no one file. */
  inputChanged: boolean;
  /** Its journal's id (null: the journal is gone); a journal removed and made again has another. */
  journalId: number | null;
}

/** The second half of the publishing lock's key: no partition's (those are ≥ -1: run-lock.ts). */
const publishingShard = -2;
const publishingKey = `hashtext($1) # ${migrationLockKey}, ${publishingShard}`;

/** NOTIFY channel of released leases (a hint only: a claim still goes through claimShard). */
const releasedChannel = 'payments_cluster_released';

/** The control plane's queries, over one retrying connection. */
export class ClusterControl {
  readonly connection: RetryingConnection;

  constructor(
    readonly target: PostgresTarget,
    applicationName: string,
    onRetry?: (attempt: number, delayMs: number, error: unknown) => void,
    /** Called when any node releases a lease (NOTIFY): a claim need not wait for the next tick. */
    onReleased?: () => void,
  ) {
    // A control query never waits long (a tick that hung would stop heartbeats and renewals).
    const onConnect = async (c: pg.Client) => {
      await c.query(`SET statement_timeout = ${controlStatementTimeoutMs}`);
      if (onReleased === undefined) return;
      c.on('notification', (n) => n.channel === releasedChannel && onReleased());
      await c.query(`LISTEN ${releasedChannel}`);
    };
    this.connection = new RetryingConnection(target, applicationName, onConnect, onRetry);
  }

  /**
   * One call at a time, in the order made: the node's tick and its runners, or submit's trimmer and
   * its main flow, call concurrently, and calls sharing one session would disarm each other's
   * watchdog and end each other's client on a failure (connection.ts).
   */
  private queue: Promise<unknown> = Promise.resolve();
  private run<T>(what: string, op: (c: pg.Client) => Promise<T>, options?: { patient?: boolean }): Promise<T> {
    const result = this.queue.then(() => this.connection.run(what, op, options));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async setup(): Promise<void> {
    // Only a migration may be silent for long (waiting on another's lock): the quick look is watched.
    const display = this.target.display;
    if (await this.run('reading the schema versions', (c) => clusterSchemaCurrent(c, display))) return;
    await this.run('creating the cluster schema', (c) => ensureClusterSchema(c, this.target.display), {
      patient: true,
    });
  }

  /**
   * Removes the control rows (run, leases, dead letters) of an earlier run of this name, whose
   * journal is gone: a new journal was just made for it. They would otherwise say the run is
   * published and finished, and the new journal's empty accounts would be printed as its result.
   */
  async forgetEarlierRun(run: string): Promise<boolean> {
    return this.run('forgetting an earlier run', async (c) => {
      const r = await c.query('DELETE FROM payments_cluster.runs WHERE name = $1', [run]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  /** Registers a run and its shards' leases (nothing changes when it exists). */
  async addRun(run: string, shards: number): Promise<void> {
    await this.run('registering the run', async (c) => {
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
    return this.run('recording the delimiter', async (c) => {
      await c.query('UPDATE payments_cluster.runs SET delimiter = $2 WHERE name = $1 AND delimiter IS NULL', [
        run,
        delimiter,
      ]);
      const r = await c.query('SELECT delimiter FROM payments_cluster.runs WHERE name = $1', [run]);
      return r.rows[0].delimiter as string;
    });
  }

  /** Records the run's stream (see adoptStream); returns the shards to be read again from its start. */
  adoptStream(run: string, created: string): Promise<number[]> {
    return this.run('recording the run’s stream', (c) => adoptStream(c, run, created));
  }

  /** Marks the run's journal as of no input: a submit saw the input change while reading it. */
  async markInputChanged(run: string): Promise<void> {
    await this.run('recording the input as changed', async (c) => {
      await c.query('UPDATE payments.journals SET input_crc = $2 WHERE name = $1', [run, inputChangedWhileRead]);
      // Its shards would wait for end markers that never come: quarantined, so that no node holds
      // them, `shards` names why, and the run expires as abandoned.
      await c.query(
        `UPDATE payments_cluster.leases SET quarantined = true, generation = generation + 1,
                cause = 'its input changed while a submit read it: the run gives no accounts; submit the file under a new --run',
                expires_at = least(expires_at, now())
          WHERE run = $1 AND NOT finished`,
        [run],
      );
    });
  }

  async markPublished(run: string, batches: number[], lastLines: number[]): Promise<void> {
    await this.run('recording the published run', (c) =>
      c.query('UPDATE payments_cluster.runs SET published = true, batches = $2, last_lines = $3 WHERE name = $1', [
        run,
        batches,
        lastLines,
      ]),
    );
  }

  async readRun(run: string): Promise<RunRow | undefined> {
    return this.run('reading the run', async (c) => {
      const r = await c.query(
        `SELECT r.name, r.shards, r.published, r.batches, r.last_lines, r.delimiter, j.input_crc = $2 AS input_changed, j.id AS journal_id
           FROM payments_cluster.runs r LEFT JOIN payments.journals j ON j.name = r.name WHERE r.name = $1`,
        [run, inputChangedWhileRead],
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
        inputChanged: row.input_changed === true,
        journalId: row.journal_id ?? null,
      };
    });
  }

  /** The lines each partition of a journal has committed up to (what a shard has applied). */
  async committedLines(run: string, shards: number): Promise<number[]> {
    return this.run('reading progress', async (c) => {
      const r = await c.query(
        'SELECT partition, max(last_line) AS last FROM payments.batches WHERE journal = $1 GROUP BY partition',
        [run],
      );
      const lines = new Array<number>(shards).fill(0);
      for (const row of r.rows) lines[row.partition] = Number(row.last);
      return lines;
    });
  }

  /** Every rejected record of a run's journal: line → reason code (`keys`: a sealed journal's). */
  async rejectedLines(run: string, keys: JournalKeyring = []): Promise<Map<number, number>> {
    return this.run('reading rejections', (c) => readRejectedLines(c, run, `journal ${run}`, keys));
  }

  leases(run: string): Promise<LeaseRow[]> {
    return this.run('reading the leases', (c) => readLeases(c, run));
  }

  /** Heartbeat of a node (live while younger than `liveMs`), and the cluster's load as it sees it. */
  heartbeat(node: string, liveMs: number): Promise<Heartbeat> {
    return this.run('heartbeat', (c) => heartbeat(c, node, liveMs));
  }

  async leaveCluster(node: string): Promise<void> {
    await this.run('leaving', (c) => c.query('DELETE FROM payments_cluster.nodes WHERE id = $1', [node]));
  }

  /** Claims one shard no live node owns (leases.ts claimShard); undefined when there is none. */
  claim(node: string, leaseMs: number): Promise<Claim | undefined> {
    return this.run('claiming a shard', (c) => claimShard(c, node, leaseMs));
  }

  /** Renews the leases a node holds; returns the keys `run/shard` of those still its own. */
  async renew(node: string, leaseMs: number, held: readonly HeldLease[]): Promise<Set<string>> {
    if (held.length === 0) return new Set();
    return this.run('renewing leases', (c) => renewLeases(c, node, leaseMs, held));
  }

  /** Gives a shard back (rebalancing, shutdown): the next claim takes it at once. */
  async release(run: string, shard: number, generation: number, streamSeq: number): Promise<void> {
    await this.run('releasing a shard', async (c) => {
      await endLease(c, { run, shard, generation, streamSeq }, false);
      await c.query(`SELECT pg_notify('${releasedChannel}', $1)`, [`${run}/${shard}`]);
    });
  }

  async finish(run: string, shard: number, generation: number, streamSeq: number): Promise<void> {
    await this.run('finishing a shard', (c) => endLease(c, { run, shard, generation, streamSeq }, true));
  }

  /** Gives a failed shard back with a backoff (quarantined after too many failures in a row). */
  releaseFailed(lease: HeldLease, recoveredLine: number, cause: string): Promise<ReleaseOutcome | undefined> {
    return this.run('releasing a failed shard', (c) => releaseFailed(c, lease, recoveredLine, cause));
  }

  /** Quarantines a shard this lease holds; false when the lease moved on. */
  quarantine(lease: HeldLease, cause: string): Promise<boolean> {
    return this.run('quarantining a shard', (c) => quarantine(c, lease, cause));
  }

  /** Quarantines a shard its stream cannot finish, fencing its owner; false when finished or quarantined. */
  quarantineStarved(run: string, shard: number, cause: string): Promise<boolean> {
    return this.run('quarantining a shard', (c) => quarantineStarved(c, run, shard, cause));
  }

  /** Lifts the quarantine of these shards; returns those lifted. */
  lift(run: string, shards: readonly number[], streamSeq?: number): Promise<number[]> {
    return this.run('lifting a quarantine', (c) => lift(c, run, shards, streamSeq));
  }

  addDeadLetter(node: string, letter: DeadLetter): Promise<boolean> {
    return this.run('keeping a dead letter', (c) => addDeadLetter(c, node, letter));
  }

  deadLetters(run: string): Promise<StoredDeadLetter[]> {
    return this.run('reading the dead letters', (c) => readDeadLetters(c, run));
  }

  expire(expireMs: number): Promise<Expired> {
    return this.run('expiring old runs and nodes', (c) => expire(c, expireMs));
  }

  clusterView(): Promise<ClusterView> {
    return this.run('reading the cluster', (c) => clusterView(c));
  }

  /**
   * A submit of the run begins: counts it (its number names its repair copies), sets the run's
   * deadline and touches it (a run touched is not abandoned). Returns the submit's number.
   */
  async beginSubmit(run: string, deadlineMs: number): Promise<number> {
    return this.run('recording the submit', async (c) => {
      const r = await c.query(
        `UPDATE payments_cluster.runs SET submits = submits + 1, touched_at = now(),
                deadline_at = now() + $2 * interval '1 millisecond'
          WHERE name = $1 RETURNING submits`,
        [run, deadlineMs],
      );
      return r.rows[0].submits as number;
    });
  }

  /**
   * While a submit publishes (a repair's messages, or a stream made again, whose end markers come
   * last), it holds a shared advisory lock of the run on this session, so that another submit
   * does not take a shard still being published to for one whose end marker was lost (starved.ts).
   * A session lost meanwhile drops it: at worst that shard is quarantined and repaired once more.
   */
  async publishing(run: string, on: boolean): Promise<void> {
    const call = on ? 'pg_advisory_lock_shared' : 'pg_advisory_unlock_shared';
    await this.run('marking the run published to', (c) =>
      c.query(`SELECT ${call}(${publishingKey})`, [`${run} publishing`]),
    );
  }

  /** Whether another session (another submit) holds the run's publishing lock. */
  othersPublishing(run: string): Promise<boolean> {
    return this.run('looking for submits publishing', async (c) => {
      const r = await c.query(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() AND objsubid = 2
            AND classid = ((hashtext($1) # ${migrationLockKey})::bigint & 4294967295)::oid
            AND objid = (${publishingShard}::bigint & 4294967295)::oid`,
        [`${run} publishing`],
      );
      return r.rows[0].n > 0;
    });
  }

  /** A submit still waits for the run: it is not abandoned. */
  async touch(run: string): Promise<void> {
    await this.run('touching the run', (c) =>
      c.query('UPDATE payments_cluster.runs SET touched_at = now() WHERE name = $1', [run]),
    );
  }

  async close(): Promise<void> {
    await this.connection.drop();
  }
}
