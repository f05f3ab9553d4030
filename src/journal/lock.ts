/**
 * One writer per journal. The run that writes a journal holds `lock.sqlite` in the journal
 * directory for its whole length: a SQLite database in rollback-journal mode on which it keeps a
 * write transaction open (BEGIN IMMEDIATE: a RESERVED lock). SQLite takes that lock with POSIX
 * advisory locks, which the OS releases when the process ends in any way, SIGKILL included: a
 * lock can never go stale. Node has no flock; SQLite's locking is portable and already a dependency.
 *
 * The holder's pid is committed to the database just before the lock is taken (under the same
 * connection), so a second run can read it (a RESERVED lock still lets others read) and say who
 * holds the journal.
 *
 * Only taking the lock (BEGIN IMMEDIATE) is tried once, without waiting: that is where a second run
 * learns the journal is held. Everything else (creating the table, committing the pid) waits out
 * the instants in which other starting runs read the file: without the wait, a run's commit that
 * met another's read failed as "in use", and two runs started together could both be refused.
 */
import { lockReadersWaitMs } from '../constants.js';
import Database from 'better-sqlite3';
import { join, resolve } from 'node:path';
import { describeError, nativeModuleMissing, RunError } from '../errors.js';
import { lockFileName } from './format.js';
import { isMissingBinding, isSqliteBusy, isSqliteFull } from './sqlite/sqlite-errors.js';

export class JournalLock {
  private constructor(private readonly db: Database.Database) {}

  /** Takes the journal's lock, or throws "journal DIR is in use by pid N" (exit 2) at once. */
  static acquire(dir: string): JournalLock {
    const path = join(dir, lockFileName);
    let db: Database.Database;
    try {
      // Absolute: a relative name starting with "file:" would be taken for a URI (see schema.ts).
      db = new Database(resolve(path), { timeout: lockReadersWaitMs });
    } catch (error) {
      if (isMissingBinding(error)) throw nativeModuleMissing('better-sqlite3');
      throw new RunError(`journal ${dir}: cannot open its lock file ${path} (${describeError(error)})`, 2, {
        kind: 'usage',
      });
    }
    try {
      db.pragma('journal_mode = DELETE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL)');
      beginAtOnce(db);
    } catch (error) {
      const holder = isSqliteBusy(error) ? readHolder(db) : undefined;
      db.close();
      if (isSqliteBusy(error)) throw JournalLock.inUse(dir, holder);
      throw JournalLock.cannotLock(dir, error);
    }
    // Record who holds it: commit the pid, then take the write lock again at once. Between the two
    // statements another run could win the lock; then this one reports it as the holder.
    try {
      db.exec('DELETE FROM holder');
      db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      db.exec('COMMIT');
      beginAtOnce(db);
    } catch (error) {
      const holder = isSqliteBusy(error) ? readHolder(db) : undefined;
      db.close();
      if (isSqliteBusy(error)) throw JournalLock.inUse(dir, holder);
      throw JournalLock.cannotLock(dir, error);
    }
    return new JournalLock(db);
  }

  /** Exit 1, naming the journal; a full disk says how to go on (nothing was applied yet). */
  private static cannotLock(dir: string, error: unknown): RunError {
    if (isSqliteFull(error))
      return new RunError(
        `journal ${dir}: disk full (SQLITE_FULL) while taking its lock; free space and run the same command to resume`,
        1,
      );
    return new RunError(`journal ${dir}: cannot lock it (${describeError(error)})`, 1);
  }

  private static inUse(dir: string, pid: number | undefined): RunError {
    return new RunError(`journal ${dir} is in use by ${pid === undefined ? 'another run' : `pid ${pid}`}`, 2, {
      kind: 'journal-busy',
    });
  }

  /** Releases the lock (the OS does it anyway when the process ends). */
  release(): void {
    if (!this.db.open) return;
    try {
      this.db.exec('ROLLBACK');
    } finally {
      this.db.close();
    }
  }
}

/** Takes the write lock, or fails with SQLITE_BUSY at once when another run holds it. */
function beginAtOnce(db: Database.Database): void {
  db.pragma('busy_timeout = 0');
  try {
    db.exec('BEGIN IMMEDIATE');
  } finally {
    db.pragma(`busy_timeout = ${lockReadersWaitMs}`);
  }
}

function readHolder(db: Database.Database): number | undefined {
  try {
    const row = db.prepare('SELECT pid FROM holder').get() as { pid: number } | undefined;
    return row?.pid;
  } catch {
    return undefined;
  }
}
