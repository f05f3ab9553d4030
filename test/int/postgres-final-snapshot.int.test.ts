/**
 * A finished shard's last snapshot (EngineState.accountsOnly): PostgreSQL stores its accounts
 * alone (tx_parts = -1, no index parts), outputs and replays read it, and a recovery ignores it and
 * starts from the newest whole snapshot, replaying the records after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountEvent } from '../../src/domain/account.js';
import type { EngineState, JournalRecord, Recovery, RowRef } from '../../src/engine/journal-port.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { replayPostgres } from '../../src/journal/postgres/run.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { schemaVersion } from '../../src/journal/postgres/schema.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { testJournalKey } from '../helpers/journal-backends.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

const input = { name: 'input.csv', size: 1234, headCrc: 1, tailCrc: 2 };
let database: string;

beforeAll(async () => {
  database = await freshDatabase('finalsnap');
});

afterAll(async () => {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
});

const target = (journal: string) => parsePostgresUrl(urlFor(database, { params: { journal } }));

async function writeDeposits(p: PostgresPartition, from: number, to: number): Promise<void> {
  for (let line = from; line <= to; line++) {
    const row: RowRef = { line, typeCode: 0, client: 1, tx: line, amount: 100 };
    p.recordEvent({ type: 'Deposited', client: 1, tx: line, amount: 100 } as AccountEvent, row);
    if (line % 25 === 0 || line === to) await p.commit();
  }
}

async function all(tail: Recovery['tail']): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of tail as AsyncIterable<JournalRecord>) out.push(r);
  return out;
}

const whole = (available: number, events: number): EngineState => ({
  accounts: [{ client: 1, state: { available, held: 0, locked: false } }],
  events,
  *txParts() {
    yield { keys: new Uint32Array([1, 2]), infos: new Uint32Array([1, 2]), amounts: new Float64Array([100, 100]) };
  },
});

const rows = (sql: string, journal: string) => withAdmin(async (c) => (await c.query(sql, [journal])).rows, database);

describe.each([
  { journal: 'fin', keys: [] },
  { journal: 'finsealed', keys: [testJournalKey] },
])('the last snapshot of a finished shard ($journal)', ({ journal, keys }) => {
  it('holds the accounts alone; replays read it, a recovery starts from the whole one before it', async () => {
    const store = new PostgresJournalStore(target(journal), { keys });
    await store.openRun(input, 1);
    await store.close();
    const p = new PostgresPartition(target(journal), 0, 1, { keys });
    await p.recover();
    await writeDeposits(p, 1, 100);
    await p.writeSnapshot(whole(10_000, 100));
    await writeDeposits(p, 101, 150);
    await p.writeSnapshot({
      ...whole(15_000, 150),
      txParts: () => {
        throw new Error('an accounts-only snapshot must not export the index');
      },
      accountsOnly: true,
    });
    await p.close();

    expect(await rows('SELECT seq, tx_parts FROM payments.snapshots WHERE journal = $1 ORDER BY seq', journal)).toEqual(
      [
        { seq: '100', tx_parts: 1 },
        { seq: '150', tx_parts: -1 },
      ],
    );
    expect(await rows('SELECT seq FROM payments.snapshot_parts WHERE journal = $1', journal)).toEqual([{ seq: '100' }]);

    // Outputs: the accounts-only snapshot, nothing replayed.
    const replay = await replayPostgres(urlFor(database, { params: { journal } }), Number.POSITIVE_INFINITY, keys);
    expect(replay.accounts.get(1)).toEqual({ available: 15_000, held: 0, locked: false });
    expect(replay.recordsReplayed).toBe(0);

    // A recovery needs the index: the whole snapshot, then the 50 records after it.
    const again = new PostgresPartition(target(journal), 0, 1, { keys });
    const recovery = await again.recover();
    expect(recovery.snapshot).toMatchObject({ seq: 100, events: 100 });
    expect(recovery.snapshot!.txParts).toHaveLength(1);
    expect((await all(recovery.tail)).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));

    // A whole snapshot at the same seq (a handoff of the recovered shard) replaces both.
    await again.writeSnapshot(whole(15_000, 150));
    await again.close();
    expect(await rows('SELECT seq, tx_parts FROM payments.snapshots WHERE journal = $1 ORDER BY seq', journal)).toEqual(
      [{ seq: '150', tx_parts: 1 }],
    );
    expect(await rows('SELECT seq FROM payments.snapshot_parts WHERE journal = $1', journal)).toEqual([{ seq: '150' }]);
  });
});

describe('the part count of a snapshot', () => {
  it('is refused by the schema when negative but -1', async () => {
    const error = await withAdmin(
      (c) =>
        c.query(
          `INSERT INTO payments.snapshots (journal, partition, seq, line, events, accounts, crc, tx_parts)
           VALUES ('fin', 0, 999, 999, 0, '\\x00', 0, -2)`,
        ),
      database,
    ).catch((e: unknown) => e);
    expect(String(error)).toMatch(/snapshots_tx_parts/);
  });
});

/** An unsealed journal's partition after 100 deposits and a whole snapshot of them (left open). */
async function unsealedWithSnapshotAt100(journal: string): Promise<PostgresPartition> {
  const store = new PostgresJournalStore(target(journal), { keys: [] });
  await store.openRun(input, 1);
  await store.close();
  const p = new PostgresPartition(target(journal), 0, 1, { keys: [] });
  await p.recover();
  await writeDeposits(p, 1, 100);
  await p.writeSnapshot(whole(10_000, 100));
  return p;
}

describe('a whole snapshot of a journal that is not sealed', () => {
  it.each([
    [
      'its accounts',
      'UPDATE payments.snapshots SET accounts = set_byte(accounts, 9, get_byte(accounts, 9) # 1) WHERE journal = $1',
    ],
    [
      'an index part',
      'UPDATE payments.snapshot_parts SET data = set_byte(data, 9, get_byte(data, 9) # 1) WHERE journal = $1',
    ],
  ])('with a byte of %s changed is refused by its checksum, not read', async (what, damage) => {
    const journal = `whole${what.length}`;
    const p = await unsealedWithSnapshotAt100(journal);
    await p.close();
    await withAdmin((c) => c.query(damage, [journal]), database);
    const again = new PostgresPartition(target(journal), 0, 1, { keys: [] });
    await expect(again.recover()).rejects.toThrow(/snapshot at seq 100 fails its checksum/);
    await again.close().catch(() => undefined);
  });
});

describe('a database of schema version 6', () => {
  it('loses its snapshots (stored with checksum 0) on migration and recovers by replaying the batches', async () => {
    const journal = 'v6';
    const p = await unsealedWithSnapshotAt100(journal);
    await p.close();
    // As version 6 left it: its whole snapshots' checksums were 0.
    await withAdmin(async (c) => {
      await c.query('DELETE FROM payments.schema_migrations WHERE version >= 7');
      await c.query('UPDATE payments.snapshots SET crc = 0');
      await c.query('UPDATE payments.snapshot_parts SET crc = 0');
    }, database);
    // Readers never migrate: they refuse, naming the command.
    await expect(
      replayPostgres(urlFor(database, { params: { journal } }), Number.POSITIVE_INFINITY, []),
    ).rejects.toThrow(
      new RegExp(`schema is version 6, older than this program's ${schemaVersion}; run payments migrate`),
    );
    // A run (or a node) opens the journal first, which migrates.
    const reopened = new PostgresJournalStore(target(journal), { keys: [] });
    await reopened.openRun(input, 1);
    await reopened.close();
    const again = new PostgresPartition(target(journal), 0, 1, { keys: [] });
    const recovery = await again.recover();
    expect(recovery.snapshot).toBeUndefined();
    expect((await all(recovery.tail)).map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 1 + i));
    await again.close();
    expect(
      await rows('SELECT max(version) AS v FROM payments.schema_migrations WHERE $1::text IS NOT NULL', journal),
    ).toEqual([{ v: schemaVersion }]);
    expect(await rows('SELECT count(*)::int AS n FROM payments.snapshots WHERE journal = $1', journal)).toEqual([
      { n: 0 },
    ]);
  });
});

describe('the fields stored beside a snapshot of a journal that is not sealed', () => {
  it.each([
    [
      'an accounts-only snapshot made to look whole',
      'UPDATE payments.snapshots SET tx_parts = 0 WHERE journal = $1 AND seq = 150',
    ],
    ['its line', 'UPDATE payments.snapshots SET line = 140 WHERE journal = $1 AND seq = 100'],
    ['its events', 'UPDATE payments.snapshots SET events = 99 WHERE journal = $1 AND seq = 100'],
  ])('are covered by its checksum: %s is refused', async (what, edit) => {
    const journal = `fields${what.length}`;
    const p = await unsealedWithSnapshotAt100(journal);
    await writeDeposits(p, 101, 150);
    await p.writeSnapshot({ ...whole(15_000, 150), accountsOnly: true });
    await p.close();
    await withAdmin((c) => c.query(edit, [journal]), database);
    const again = new PostgresPartition(target(journal), 0, 1, { keys: [] });
    await expect(again.recover()).rejects.toThrow(/fails its checksum/);
    await again.close().catch(() => undefined);
  });
});
