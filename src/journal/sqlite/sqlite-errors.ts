/**
 * SQLite's errors (better-sqlite3's SqliteError) sorted by code, in one place. Only the missing
 * native binding, which carries no SQLite code, is told by its words.
 */
import { describeError, errorCode } from '../../errors.js';

/** The SQLite result code (`SQLITE_FULL`, `SQLITE_IOERR_WRITE`, ...) behind `error`, if it has one. */
export function sqliteCode(error: unknown): string | undefined {
  const code = errorCode(error);
  return code !== undefined && code.startsWith('SQLITE_') ? code : undefined;
}

/** The primary result code of an extended one (`SQLITE_IOERR_WRITE` → `SQLITE_IOERR`). */
export function primaryCode(error: unknown): string | undefined {
  const code = sqliteCode(error);
  return code === undefined ? undefined : code.split('_', 2).join('_');
}

/** Another connection holds the lock this one needs (the exact codes, not their extended forms). */
export function isSqliteBusy(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/** The disk (or the file size limit) is full. */
export const isSqliteFull = (error: unknown): boolean => sqliteCode(error) === 'SQLITE_FULL';

/** The file cannot be opened (with fileMustExist: it does not exist). */
export const isSqliteCantOpen = (error: unknown): boolean => sqliteCode(error) === 'SQLITE_CANTOPEN';

/** What SQLite says of a file's content: not a database, malformed, tables not a journal's. */
const contentCodes = new Set([
  ...['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_FORMAT', 'SQLITE_ERROR'],
  ...['SQLITE_SCHEMA', 'SQLITE_MISMATCH', 'SQLITE_CONSTRAINT'],
]);

/**
 * SQLite's own complaint about the file's content, and only that: a full disk, an I/O error, a
 * lock, memory or a permission say nothing about the file (an allow-list, so that a code not
 * thought of is never taken for a damaged journal).
 */
export function isSqliteDamage(error: unknown): boolean {
  return contentCodes.has(primaryCode(error) ?? '');
}

/** better-sqlite3 installed without its compiled binding (or one built for another Node). */
export function isMissingBinding(error: unknown): boolean {
  const code = errorCode(error);
  return (
    code === 'MODULE_NOT_FOUND' ||
    code === 'ERR_DLOPEN_FAILED' ||
    /bindings file|better_sqlite3\.node|NODE_MODULE_VERSION/.test(describeError(error))
  );
}
