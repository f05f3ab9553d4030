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
import type { RowRef } from '../../src/engine/journal-port.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { startServer, stopServer } from '../../scripts/test-postgres.mjs';

const row = (line: number): RowRef => ({ line, typeCode: 0, client: 1, tx: line, amount: 10_000 });
const deposit = (line: number) => ({ type: 'Deposited' as const, client: 1, tx: line, amount: 10_000 });

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

    // B ends whatever session still holds the partition (none now), opens it and continues.
    await control.evictPartitionHolder('f1', 0);
    const b = await open(2);
    const recovered = await b.recover();
    expect(recovered.resumeLine).toBe(1);
    b.recordEvent(deposit(2), row(2));
    await b.commit();
    await b.settle();
    await b.close();
  });

  it('a paused owner still holding the partition lock is evicted by the new owner', async () => {
    await control.connection.run('expire', (c) =>
      c.query("UPDATE payments_cluster.leases SET expires_at = '-infinity' WHERE run = 'f1' AND shard = 0"),
    );
    const c3 = await control.claim('C', 60_000);
    const stale = await open(c3!.generation); // holds the advisory lock, like a SIGSTOPped node
    await control.connection.run('expire', (c) =>
      c.query("UPDATE payments_cluster.leases SET expires_at = '-infinity' WHERE run = 'f1' AND shard = 0"),
    );
    const d = await control.claim('D', 60_000);
    expect(await control.evictPartitionHolder('f1', 0)).toBe(1);
    const fresh = await open(d!.generation); // would wait 5 s and fail as busy without the eviction
    fresh.recordEvent(deposit(3), row(3));
    await fresh.commit();
    await fresh.settle();
    stale.recordEvent(deposit(3), row(3));
    await stale.commit();
    await expect(stale.settle()).rejects.toThrow(); // its session is gone, and its generation too
    await stale.close();
    await fresh.close();
  });

  it('a writer without a generation (a single-process run naming the journal) is refused', async () => {
    const partition = new PostgresPartition(parsePostgresUrl(fencedJournalUrl(server.url, 'f1', undefined)), 1, 2, {});
    await partition.recover();
    partition.recordEvent(deposit(100), row(100));
    await partition.commit();
    await expect(partition.settle()).rejects.toThrow(/fenced/);
    await partition.close();
  });
});
