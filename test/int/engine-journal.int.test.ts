/**
 * In-process integration: ShardEngine over the durable SQLite journal in a temp directory, without
 * threads or signals, for what only SQLite has: a torn last batch (a write cut short), dropped and
 * applied again. The contract every journal meets is tested once per backend in
 * postgres-journal-contract.int.test.ts.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { SqliteJournal } from '../../src/journal/sqlite/writer.js';
import { accountsOf, applyAll, batchesOf, history, reference } from '../helpers/journal-history.js';

const root = mkdtempSync(join(tmpdir(), 'payments-int-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `j${dirs++}`);

describe('ShardEngine over SqliteJournal', () => {
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
});
