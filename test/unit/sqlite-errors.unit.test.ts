/**
 * SQLite errors sorted by code. The errors are real ones from better-sqlite3 where SQLite makes them
 * on demand (a held lock, a missing file, a file that is not a database, a missing binding); a full
 * disk or an I/O error is made with better-sqlite3's own SqliteError class, as its native code does.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunError } from '../../src/errors.js';
import {
  isMissingBinding,
  isSqliteBusy,
  isSqliteCantOpen,
  isSqliteDamage,
  isSqliteFull,
  sqliteCode,
} from '../../src/journal/sqlite/sqlite-errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlite-errors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
};

const busyError = (): unknown => {
  const path = join(tmp, 'busy.sqlite');
  const holder = new Database(path);
  const other = new Database(path, { timeout: 0 });
  try {
    holder.exec('CREATE TABLE IF NOT EXISTS t (x); BEGIN IMMEDIATE');
    return thrown(() => other.exec('BEGIN IMMEDIATE'));
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
    other.close();
  }
};

const notADatabase = (): unknown => {
  const path = join(tmp, 'text.sqlite');
  writeFileSync(path, 'type,client,tx,amount\n'.repeat(100));
  const db = new Database(path);
  try {
    return thrown(() => db.prepare('SELECT * FROM batches').all());
  } finally {
    db.close();
  }
};

describe('SQLite errors by code', () => {
  it('a lock held by another connection is busy, and not damage', () => {
    const error = busyError();
    expect(sqliteCode(error)).toBe('SQLITE_BUSY');
    expect(isSqliteBusy(error)).toBe(true);
    expect(isSqliteDamage(error)).toBe(false);
    expect(isSqliteBusy(new Database.SqliteError('locked', 'SQLITE_LOCKED'))).toBe(true);
  });

  it('a missing file opened with fileMustExist cannot be opened', () => {
    const error = thrown(() => new Database(join(tmp, 'absent.sqlite'), { fileMustExist: true }));
    expect(isSqliteCantOpen(error)).toBe(true);
    expect(isSqliteBusy(error)).toBe(false);
  });

  it('a file that is not a database is damage', () => {
    const error = notADatabase();
    expect(sqliteCode(error)).toBe('SQLITE_NOTADB');
    expect(isSqliteDamage(error)).toBe(true);
  });

  it('a full disk is full, and not damage; nor is an extended I/O error', () => {
    const full = new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
    expect(isSqliteFull(full)).toBe(true);
    expect(isSqliteDamage(full)).toBe(false);
    // A RunError that carries the code (a worker's failure on the main thread) counts the same.
    expect(
      isSqliteFull(new RunError('journal partition 0: disk full', 1, { kind: 'failure', code: 'SQLITE_FULL' })),
    ).toBe(true);
    expect(isSqliteDamage(new Database.SqliteError('disk I/O error', 'SQLITE_IOERR_WRITE'))).toBe(false);
    expect(isSqliteDamage(new Database.SqliteError('no such table: batches', 'SQLITE_ERROR'))).toBe(true);
  });

  it('damage is what SQLite says of the content, and only that: memory, misuse or permissions are not', () => {
    for (const code of ['SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_NOTADB', 'SQLITE_FORMAT', 'SQLITE_SCHEMA'])
      expect(isSqliteDamage(new Database.SqliteError('x', code)), code).toBe(true);
    for (const code of ['SQLITE_NOMEM', 'SQLITE_MISUSE', 'SQLITE_READONLY_DBMOVED', 'SQLITE_PERM', 'SQLITE_INTERRUPT'])
      expect(isSqliteDamage(new Database.SqliteError('x', code)), code).toBe(false);
  });

  it('a Node error code is no SQLite code', () => {
    const enospc = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    expect(sqliteCode(enospc)).toBeUndefined();
    expect(isSqliteFull(enospc)).toBe(false);
    expect(isSqliteDamage(enospc)).toBe(false);
    expect(sqliteCode(new Error('plain'))).toBeUndefined();
  });

  it('a missing native binding is told by its code, or by its words when it has none', () => {
    const missing = thrown(
      () => new Database(join(tmp, 'b.sqlite'), { nativeBinding: join(tmp, 'missing', 'better_sqlite3.node') }),
    );
    expect(isMissingBinding(missing)).toBe(true);
    expect(isMissingBinding(new Error('The module was compiled against NODE_MODULE_VERSION 108'))).toBe(true);
    expect(isMissingBinding(busyError())).toBe(false);
    expect(isMissingBinding(new Error('disk I/O error'))).toBe(false);
  });
});
