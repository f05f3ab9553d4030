/**
 * Fencing, directly: a partition opened under a lease generation commits only while that
 * generation owns the shard. Real PostgreSQL (the tests' own throw-away server), no NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterControl } from '../../src/cluster/control.js';
import { fencedJournalUrl } from '../../src/cluster/schema.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import type { EngineState, RowRef } from '../../src/engine/journal-port.js';
import pg from 'pg';
// @ts-expect-error: a plain .mjs script without type declarations
import { startServer, stopServer } from '../../scripts/test-postgres.mjs';

const row = (line: number): RowRef => ({ line, typeCode: 0, client: 1, tx: line, amount: 10_000 });
const deposit = (line: number) => ({ type: 'Deposited' as const, client: 1, tx: line, amount: 10_000 });
const emptyState: EngineState = { accounts: [], events: 0, txParts: () => [] };

describe('fencing by lease generation', () => {
  let server: { url: string };
  let control: ClusterControl;

  beforeAll(async () => {
    server = await startServer({});
    const target = parsePostgresUrl(fencedJournalUrl(server.url, 'f1', undefined));
    control = new ClusterControl(target, 'fencing test');
    await control.setup();
    const store = new PostgresJournalStore(target);
    await store.openRun({ name: 'in.csv', size: 1, headCrc: 0, tailCrc: 0 }, 2);
    await store.close();
    await control.addRun('f1', 2);
    // Nothing of a run is claimed before submit has made its stream (a reader would find none).
    expect(await control.claim('A', 60_000)).toBeUndefined();
    await control.adoptStream('f1', '2026-01-01T00:00:00Z');
  });
  afterAll(async () => {
    await control?.close();
    if (server) stopServer(server);
  });

  const open = async (generation: number | undefined) => {
    const partition = new PostgresPartition(parsePostgresUrl(fencedJournalUrl(server.url, 'f1', generation)), 0, 2, {});
    await partition.recover();
    return partition;
  };

  it('the owner commits; after a takeover its late commit is refused, the new owner continues', async () => {
    const first = await control.claim('A', 60_000);
    expect(first).toMatchObject({ run: 'f1', shard: 0, generation: 1 });
    const a = await open(1);
    a.recordEvent(deposit(1), row(1));
    await a.commit();
    await a.settle(); // commit keeps one batch in flight: this one is durable now

    // A is paused past its lease; B takes the shard over (generation 2).
    await control.connection.run('expire', (c) =>
      c.query("UPDATE payments_cluster.leases SET expires_at = '-infinity' WHERE run = 'f1' AND shard = 0"),
    );
    const second = await control.claim('B', 60_000);
    expect(second).toMatchObject({ shard: 0, generation: 2 });

    // A wakes up and commits: refused inside the transaction, nothing written.
    a.recordEvent(deposit(2), row(2));
    await a.commit(); // sent; its outcome is reported by the next settle (or snapshot, or read)
    await expect(a.settle()).rejects.toThrow(/fenced: shard 0 of run f1 belongs to lease generation 2/);
    await a.close();

    // B opens the partition and continues.
    const b = await open(2);
    const recovered = await b.recover();
    expect(recovered.resumeLine).toBe(1);
    b.recordEvent(deposit(2), row(2));
    await b.commit();
    await b.settle();
    await b.close();
  });

  it('a paused owner keeps its session, yet neither blocks the new owner nor writes again', async () => {
    await control.connection.run('expire', (c) =>
      c.query("UPDATE payments_cluster.leases SET expires_at = '-infinity' WHERE run = 'f1' AND shard = 0"),
    );
    const c3 = await control.claim('C', 60_000);
    const stale = await open(c3!.generation); // holds its session and locks, like a SIGSTOPped node
    await control.connection.run('expire', (c) =>
      c.query("UPDATE payments_cluster.leases SET expires_at = '-infinity' WHERE run = 'f1' AND shard = 0"),
    );
    const d = await control.claim('D', 60_000);
    // No session is ended (the nodes' role needs no pg_signal_backend): the new owner opens at once.
    const fresh = await open(d!.generation);
    fresh.recordEvent(deposit(3), row(3));
    await fresh.commit();
    await fresh.settle();
    // The stale session is still there, and the fence answers it: its snapshot and its batch.
    await expect(stale.writeSnapshot(emptyState)).rejects.toThrow(
      new RegExp(`fenced: shard 0 of run f1 belongs to lease generation ${d!.generation}`),
    );
    stale.recordEvent(deposit(3), row(3));
    await stale.commit();
    await expect(stale.settle()).rejects.toThrow(/fenced/);
    await stale.close();
    // A stale owner that reconnects is refused before it gets the partition (it cannot win it back).
    await expect(open(c3!.generation)).rejects.toThrow(
      new RegExp(
        `fenced: shard 0 of run f1 belongs to lease generation ${d!.generation}, this session writes for ${c3!.generation}`,
      ),
    );
    await fresh.close();
  });

  it("a submit publishing holds the run's publishing lock: another session sees it, its own does not", async () => {
    const other = new ClusterControl(parsePostgresUrl(fencedJournalUrl(server.url, 'f1', undefined)), 'other submit');
    try {
      expect(await other.othersPublishing('f1')).toBe(false);
      await control.publishing('f1', true);
      expect(await control.othersPublishing('f1')).toBe(false); // its own
      expect(await other.othersPublishing('f1')).toBe(true);
      expect(await other.othersPublishing('f2')).toBe(false); // per run
      await other.publishing('f1', true); // shared: two submits at once
      await control.publishing('f1', false);
      expect(await control.othersPublishing('f1')).toBe(true);
      await other.publishing('f1', false);
      expect(await control.othersPublishing('f1')).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('a writer without a generation (a single-process run naming the journal) is refused', async () => {
    const partition = new PostgresPartition(parsePostgresUrl(fencedJournalUrl(server.url, 'f1', undefined)), 1, 2, {});
    await partition.recover();
    partition.recordEvent(deposit(100), row(100));
    await partition.commit();
    await expect(partition.settle()).rejects.toThrow(/fenced/);
    await partition.close();
  });

  it('a snapshot passes the fence under the lease row lock: a takeover waits for it, then it is refused', async () => {
    const store = new PostgresJournalStore(parsePostgresUrl(fencedJournalUrl(server.url, 'f2', undefined)));
    await store.openRun({ name: 'in.csv', size: 1, headCrc: 0, tailCrc: 0 }, 1);
    await store.close();
    await control.addRun('f2', 1);
    await control.adoptStream('f2', '2026-01-01T00:00:00Z');
    const expire = (run: string, at: string) =>
      control.connection.run('expire', (c) =>
        c.query(`UPDATE payments_cluster.leases SET expires_at = '${at}' WHERE run ${run}`),
      );
    await expire("<> 'f2'", 'infinity'); // only f2's shard is claimable from here on
    const session = async (generation: number) => {
      const client = new pg.Client({ connectionString: fencedJournalUrl(server.url, 'f2', generation) });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    };
    const snapshot = (c: pg.Client, seq: number) =>
      c.query(
        `INSERT INTO payments.snapshots (journal, partition, seq, line, events, accounts, crc, tx_parts)
         VALUES ('f2', 0, $1, $1, 0, '\\x', 0, 0)`,
        [seq],
      );
    const first = await control.claim('A', 60_000);
    const a = await session(first!.generation);
    await expire("= 'f2'", '-infinity'); // A is late (an UPDATE of its lease row would wait for A below)
    await a.query('BEGIN');
    await snapshot(a, 1); // passed the fence; its transaction is open, as when its owner pauses
    expect(await control.claim('B', 60_000)).toBeUndefined(); // the lease row is locked until A ends
    await a.query('COMMIT');
    const second = await control.claim('B', 60_000);
    expect(second).toMatchObject({ run: 'f2', shard: 0, generation: first!.generation + 1 });
    await expect(snapshot(a, 2)).rejects.toThrow(/fenced: shard 0 of run f2 belongs to lease generation/);
    await a.end();

    // An owner paused inside its snapshot's transaction: the server ends that transaction
    // (idle_in_transaction_session_timeout), and the shard can be claimed again.
    const b = await session(second!.generation);
    await expire("= 'f2'", '-infinity');
    await b.query('BEGIN');
    await snapshot(b, 3);
    let third: Awaited<ReturnType<typeof control.claim>>;
    while ((third = await control.claim('C', 60_000)) === undefined) await new Promise((r) => setTimeout(r, 100));
    expect(third).toMatchObject({ generation: second!.generation + 1 });
    await expect(b.query('COMMIT')).rejects.toThrow();
    await b.end().catch(() => undefined);
    const kept = await control.connection.run('read', (c) =>
      c.query("SELECT seq::int AS seq FROM payments.snapshots WHERE journal = 'f2' ORDER BY seq"),
    );
    expect(kept.rows).toEqual([{ seq: 1 }]);
  });
});
