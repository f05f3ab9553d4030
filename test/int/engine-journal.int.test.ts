/**
 * In-process integration: ShardEngine over the durable SQLite journal in a temp directory, without
 * threads or signals. Recovery from a snapshot plus a tail, a torn tail, an input that changed, a
 * snapshot in several parts, and the journal's answers for lines an earlier run applied.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotPartTxs } from '../../src/constants.js';
import { reasonCode } from '../../src/domain/rejection.js';
import { TxTypeCode } from '../../src/domain/transaction.js';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { JournalCorrupt } from '../../src/errors.js';
import { SqliteJournal } from '../../src/journal/sqlite/writer.js';
import { accountsOf, applyAll, batchesOf, history, reference, type Row } from '../helpers/journal-history.js';

const root = mkdtempSync(join(tmpdir(), 'payments-int-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `j${dirs++}`);

describe('ShardEngine over SqliteJournal', () => {
  it('recovers from a snapshot plus the tail after it, to the state of an uninterrupted run', async () => {
    const rows = history(600);
    const batches = batchesOf(rows, 50);
    const want = await reference(rows, 50);
    const dir = freshDir();
    const first = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    await applyAll(first.engine, batches.slice(0, 10));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await applyAll(first.engine, batches.slice(10, 16)); // the tail after the snapshot
    await first.engine.journal.close(); // a crash: no final snapshot

    const second = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    expect(second.recovery.snapshotSeq).toBeGreaterThan(0);
    expect(second.recovery.recordsReplayed).toBe(second.recovery.records - second.recovery.snapshotSeq);
    expect(second.recovery.recordsReplayed).toBeGreaterThan(0);
    expect(second.recovery.resumeLine).toBe(2 + 16 * 50 - 1);
    // The resumed run gets the whole input again: the first 16 batches are answered from the journal.
    const rejected = await applyAll(second.engine, batchesOf(rows, 50));
    expect(rejected).toEqual(want.rejected);
    expect(accountsOf(second.engine)).toEqual(want.accounts);
    expect(second.engine.records).toBe(want.records);
    expect(second.engine.events).toBe(want.events);
    await second.engine.journal.close();
  });

  it('drops a torn last batch and applies its rows again', async () => {
    const rows = history(200);
    const want = await reference(rows, 40);
    const dir = freshDir();
    const first = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    await applyAll(first.engine, batchesOf(rows, 40).slice(0, 5));
    await first.engine.journal.close();
    const db = new Database(join(dir, 'partition-0.sqlite'));
    db.prepare(
      'UPDATE batches SET data = substr(data, 1, length(data) - 7) WHERE first_seq = (SELECT max(first_seq) FROM batches)',
    ).run();
    db.close();

    const second = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    expect(second.recovery.torn).toEqual({ firstLine: 2 + 4 * 40, lastLine: 2 + 5 * 40 - 1 });
    expect(second.recovery.resumeLine).toBe(2 + 4 * 40 - 1);
    await applyAll(second.engine, batchesOf(rows, 40));
    expect(accountsOf(second.engine)).toEqual(want.accounts);
    expect(second.engine.records).toBe(want.records);
    await second.engine.journal.close();
  });

  it('refuses an input that changed under a journal (JournalCorrupt, exit 2)', async () => {
    const rows = history(100);
    const dir = freshDir();
    const first = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    await applyAll(first.engine, batchesOf(rows, 30));
    await first.engine.journal.close();
    const changed = rows.map((r, i): Row => (i === 42 ? [r[0], r[1], r[2], r[3] + 1] : r));
    const second = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    const error = await applyAll(second.engine, batchesOf(changed, 30)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JournalCorrupt);
    expect((error as JournalCorrupt).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/does not match the input at line 44/);
    await second.engine.journal.close();
  });

  it('writes and recovers a snapshot of several index parts', async () => {
    const n = snapshotPartTxs + 1000; // two parts
    const rows: Row[] = Array.from({ length: n }, (_, i) => [TxTypeCode.deposit, 0, i + 1, 1]);
    rows.push([TxTypeCode.dispute, 0, 100, 0]); // a tx in the first part
    rows.push([TxTypeCode.dispute, 0, n - 100, 0]); // a tx in the second part
    const batches = batchesOf(rows, 4096);
    const dir = freshDir();
    const first = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    await applyAll(first.engine, batches);
    await first.engine.journal.writeSnapshot(first.engine.state());
    await first.engine.journal.close();
    const db = new Database(join(dir, 'partition-0.sqlite'));
    expect((db.prepare('SELECT tx_parts FROM snapshots').get() as { tx_parts: number }).tx_parts).toBe(2);
    db.close();

    const second = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    expect(second.recovery.recordsReplayed).toBe(0);
    expect(second.engine.storedTxCount).toBe(n);
    // The recovered index still knows the disputed status of both txs.
    const after = batchesOf(
      [
        [TxTypeCode.resolve, 0, 100, 0],
        [TxTypeCode.dispute, 0, n - 100, 0],
      ],
      10,
      n + 4,
    );
    const rejected = await applyAll(second.engine, after);
    expect(rejected).toEqual([[1, reasonCode('already_disputed')]]);
    await second.engine.journal.close();
  });

  it('refuses a snapshot whose recorded fields were edited', async () => {
    const dir = freshDir();
    const first = await ShardEngine.open(SqliteJournal.open(dir, 0, 1));
    await applyAll(first.engine, batchesOf(history(50), 20));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await first.engine.journal.close();
    const db = new Database(join(dir, 'partition-0.sqlite'));
    db.prepare('UPDATE snapshots SET events = events - 1').run();
    db.close();
    await expect(ShardEngine.open(SqliteJournal.open(dir, 0, 1))).rejects.toThrow(
      /journal partition 0 .*snapshot at seq \d+ fails its checksum/,
    );
  });
});
