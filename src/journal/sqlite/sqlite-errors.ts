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

/**
 * SQLite's own complaint about the file's content (not a database, malformed, a missing table):
 * any SqliteError but a full disk, an I/O error or a lock, which say nothing about the file.
 */
export function isSqliteDamage(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'SqliteError') return false;
  const primary = primaryCode(error);
  return !(
    primary === 'SQLITE_FULL' ||
    primary === 'SQLITE_IOERR' ||
    primary === 'SQLITE_BUSY' ||
    primary === 'SQLITE_LOCKED'
  );
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
