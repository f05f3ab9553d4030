/**
 * In-process integration: ShardEngine over the PostgreSQL journal (a real server), as
 * engine-journal.int.test.ts does over SQLite: recovery from a snapshot plus a tail, an input that
 * changed, a snapshot in several parts, edited snapshot fields, and a resumed run that is answered
 * from the journal. (SQLite's torn last batch has no counterpart: a transaction is whole or absent.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshotPartTxs } from '../../src/constants.js';
import { reasonCode } from '../../src/domain/rejection.js';
import { TxTypeCode } from '../../src/domain/transaction.js';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { JournalCorrupt } from '../../src/errors.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { accountsOf, applyAll, batchesOf, history, reference, type Row } from '../helpers/journal-history.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

let database: string;
let journals = 0;
beforeAll(async () => {
  database = await freshDatabase('engine');
});

/** A new journal of one shard; returns a function opening its partition. */
async function freshJournal(): Promise<{ name: string; open: () => PostgresPartition }> {
  const name = `j${journals++}`;
  const target = parsePostgresUrl(urlFor(database, { params: { journal: name } }));
  const store = new PostgresJournalStore(target);
  await store.openRun({ name: 'input.csv', size: 1, headCrc: 0, tailCrc: 0 }, 1);
  await store.close();
  return { name, open: () => new PostgresPartition(target, 0, 1) };
}

describe('ShardEngine over the PostgreSQL journal', () => {
  it('recovers from a snapshot plus the tail after it, to the state of an uninterrupted run', async () => {
    const rows = history(600);
    const batches = batchesOf(rows, 50);
    const want = await reference(rows, 50);
    const journal = await freshJournal();
    const first = await ShardEngine.open(journal.open());
    await applyAll(first.engine, batches.slice(0, 10));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await applyAll(first.engine, batches.slice(10, 16)); // the tail after the snapshot
    await first.engine.journal.close(); // a crash: no final snapshot

    const second = await ShardEngine.open(journal.open());
    expect(second.recovery.snapshotSeq).toBeGreaterThan(0);
    expect(second.recovery.recordsReplayed).toBe(second.recovery.records - second.recovery.snapshotSeq);
    expect(second.recovery.recordsReplayed).toBeGreaterThan(0);
    expect(second.recovery.resumeLine).toBe(2 + 16 * 50 - 1);
    const rejected = await applyAll(second.engine, batchesOf(rows, 50));
    expect(rejected).toEqual(want.rejected);
    expect(accountsOf(second.engine)).toEqual(want.accounts);
    expect(second.engine.records).toBe(want.records);
    expect(second.engine.events).toBe(want.events);
    await second.engine.journal.close();
  });

  it('refuses an input that changed under a journal (JournalCorrupt, exit 2)', async () => {
    const rows = history(100);
    const journal = await freshJournal();
    const first = await ShardEngine.open(journal.open());
    await applyAll(first.engine, batchesOf(rows, 30));
    await first.engine.journal.close();
    const changed = rows.map((r, i): Row => (i === 42 ? [r[0], r[1], r[2], r[3] + 1] : r));
    const second = await ShardEngine.open(journal.open());
    const error = await applyAll(second.engine, batchesOf(changed, 30)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JournalCorrupt);
    expect((error as JournalCorrupt).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/does not match the input at line 44/);
    await second.engine.journal.close();
  });

  it('writes and recovers a snapshot of several index parts', async () => {
    const n = snapshotPartTxs + 1000; // two parts
    const rows: Row[] = Array.from({ length: n }, (_, i) => [TxTypeCode.deposit, 0, i + 1, 1]);
    rows.push([TxTypeCode.dispute, 0, 100, 0]);
    rows.push([TxTypeCode.dispute, 0, n - 100, 0]);
    const journal = await freshJournal();
    const first = await ShardEngine.open(journal.open());
    await applyAll(first.engine, batchesOf(rows, 4096));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await first.engine.journal.close();
    const parts = await withAdmin(
      (c) => c.query('SELECT tx_parts FROM payments.snapshots WHERE journal = $1', [journal.name]),
      database,
    );
    expect(parts.rows).toEqual([{ tx_parts: 2 }]);

    const second = await ShardEngine.open(journal.open());
    expect(second.recovery.recordsReplayed).toBe(0);
    expect(second.engine.storedTxCount).toBe(n);
    const after = batchesOf(
      [
        [TxTypeCode.resolve, 0, 100, 0],
        [TxTypeCode.dispute, 0, n - 100, 0],
      ],
      10,
      n + 4,
    );
    expect(await applyAll(second.engine, after)).toEqual([[1, reasonCode('already_disputed')]]);
    await second.engine.journal.close();
  });

  it('refuses a snapshot whose recorded fields were edited', async () => {
    const journal = await freshJournal();
    const first = await ShardEngine.open(journal.open());
    await applyAll(first.engine, batchesOf(history(50), 20));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await first.engine.journal.close();
    await withAdmin(
      (c) => c.query('UPDATE payments.snapshots SET events = events - 1 WHERE journal = $1', [journal.name]),
      database,
    );
    await expect(ShardEngine.open(journal.open())).rejects.toThrow(
      /partition 0: the snapshot at seq \d+ does not match/,
    );
  });
});
