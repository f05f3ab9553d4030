/** A partition database: opening it, its tables, and the meta rows that say what it holds. */
import Database from 'better-sqlite3';
import { resolve } from 'node:path';
import { sqliteCacheKib } from '../../constants.js';
import {
  describeError,
  inputError,
  JournalCorrupt,
  nativeModuleMissing,
  runFailure,
  type RunError,
} from '../../errors.js';
import {
  journalFormat,
  journalFormatVersion,
  newestJournalFormatVersion,
  oldestJournalFormatVersion,
  sealedJournalFormatVersion,
  type JournalFormat,
} from '../format.js';
import { sealError, type JournalSealInfo } from '../seal.js';
import {
  isMissingBinding,
  isSqliteCantOpen,
  isSqliteDamage,
  isSqliteFull,
  primaryCode,
  sqliteCode,
} from './sqlite-errors.js';

// Readers open a partition as a `file:` URI with `immutable=1` (sqlite/reader.ts), which SQLite
// accepts only when URI names are on. better-sqlite3 turns them on when this variable is set as its
// native module loads (once per process, at the first database); every path the journal opens is
// absolute, so none is taken for a URI by mistake.
process.env.SQLITE_USE_URI = '1';

/** Opens a partition in WAL mode; `nativeBinding` is for tests only. */
export function openDatabase(
  path: string,
  where: string,
  fileMustExist: boolean,
  nativeBinding?: string,
): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(resolve(path), { fileMustExist, ...(nativeBinding === undefined ? {} : { nativeBinding }) });
  } catch (error) {
    if (isMissingBinding(error)) throw nativeModuleMissing('better-sqlite3');
    if (fileMustExist && isSqliteCantOpen(error)) throw new JournalCorrupt(`${where}: missing`);
    throw unusable(where, error);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Batches are appended and read back once, in order: a large page cache only adds RSS.
    db.pragma(`cache_size = -${sqliteCacheKib}`);
    return db;
  } catch (error) {
    db.close();
    throw unusable(where, error);
  }
}

/**
 * A partition that could not be opened or set up: damaged (exit 2) only when SQLite says so of its
 * content; a file it may not write is exit 2 naming that; a full disk or an I/O error says nothing
 * about the file (exit 1: free space, run again).
 */
function unusable(where: string, error: unknown): RunError {
  const code = sqliteCode(error) ?? 'no SQLite code';
  const primary = primaryCode(error) ?? '';
  if (isSqliteDamage(error)) return new JournalCorrupt(`${where}: unreadable (${describeError(error)})`);
  if (['SQLITE_READONLY', 'SQLITE_PERM', 'SQLITE_CANTOPEN', 'SQLITE_AUTH'].includes(primary))
    return inputError(`${where}: cannot be written (${describeError(error)}, ${code}); check its permissions`);
  if (isSqliteFull(error))
    return runFailure(`${where}: disk full (SQLITE_FULL); free space and run the same command to resume`);
  const disk = primary === 'SQLITE_IOERR' ? 'check the disk (is it full?) and ' : '';
  return runFailure(`${where}: ${describeError(error)} (${code}); ${disk}run the same command to resume`);
}

/** What a partition's meta rows say it is: its format, and its seal (undefined: not sealed). */
export interface PartitionMeta {
  readonly format: JournalFormat;
  readonly seal: JournalSealInfo | undefined;
}

/**
 * Creates the tables of a new partition and records what it holds (its journal's format, sealed or
 * not); checks an existing one, and that it has its journal's format and seal.
 */
export function initSchema(
  db: Database.Database,
  shard: number,
  shards: number,
  where: string,
  seal?: JournalSealInfo,
  formatVersion = seal ? sealedJournalFormatVersion : journalFormatVersion,
): PartitionMeta {
  try {
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS batches (
        first_line INTEGER PRIMARY KEY, last_line INTEGER NOT NULL, first_seq INTEGER NOT NULL UNIQUE,
        count INTEGER NOT NULL, events INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL,
        input_end INTEGER, input_crc INTEGER);
      CREATE TABLE IF NOT EXISTS snapshots (
        seq INTEGER PRIMARY KEY, line INTEGER NOT NULL, events INTEGER NOT NULL, accounts BLOB NOT NULL,
        crc INTEGER NOT NULL, tx_parts INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot_txs (
        seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL, PRIMARY KEY (seq, part));
    `);
    const insertMeta = db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
    db.transaction(() => {
      const fresh = db.prepare("SELECT 1 FROM meta WHERE key = 'format_version'").get() === undefined;
      insertMeta.run('format_version', String(formatVersion));
      insertMeta.run('shard', String(shard));
      insertMeta.run('shards', String(shards));
      if (fresh && seal) {
        insertMeta.run('seal_journal_id', seal.journalId);
        insertMeta.run('seal_key_id', seal.keyId);
      }
    })();
  } catch (error) {
    if (error instanceof JournalCorrupt) throw error;
    throw unusable(where, error);
  }
  const stored = checkMeta(db, where, shard, shards);
  checkSealAgrees(where, stored.seal, seal);
  checkFormatAgrees(where, stored.format.version, formatVersion);
  return stored;
}

/** A partition must have its journal's format: the format says how its batches are encoded. */
export function checkFormatAgrees(where: string, stored: number, expected: number): void {
  if (stored !== expected)
    throw new JournalCorrupt(
      `${where}: journal format ${stored}, but its journal's manifest says ${expected} (damaged or edited)`,
    );
}

/** A partition must be sealed exactly as its journal's manifest says: same journal, same key. */
export function checkSealAgrees(
  where: string,
  stored: JournalSealInfo | undefined,
  expected: JournalSealInfo | undefined,
): void {
  if (stored === undefined && expected === undefined) return;
  if (stored === undefined)
    throw sealError(`${where}: is not sealed, but its journal is (damaged or edited, or copied from another journal)`);
  if (expected === undefined)
    throw sealError(
      `${where}: is sealed (key id ${stored.keyId}), but its journal's manifest says it is not (damaged or edited)`,
    );
  if (stored.journalId !== expected.journalId)
    throw sealError(`${where}: is sealed for another journal (damaged, or copied from another journal)`);
  if (stored.keyId !== expected.keyId)
    throw sealError(
      `${where}: is sealed with key id ${stored.keyId}, its journal with key id ${expected.keyId}: a reseal was interrupted; run the same payments reseal again`,
    );
}

/** Checks the partition's format version, and that it holds `shard` of `shards`; returns its format and seal. */
export function checkMeta(db: Database.Database, where: string, shard: number, shards: number): PartitionMeta {
  let rows: { key: string; value: string }[];
  try {
    rows = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
  } catch (error) {
    throw new JournalCorrupt(`${where}: not a payments journal partition (${describeError(error)})`);
  }
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  const version = Number(meta.get('format_version'));
  if (version > newestJournalFormatVersion)
    throw new JournalCorrupt(
      `${where}: written by a newer version (journal format ${version}, this program reads ${oldestJournalFormatVersion} to ${newestJournalFormatVersion})`,
    );
  const format = journalFormat(version);
  if (format === undefined)
    throw new JournalCorrupt(
      `${where}: journal format ${meta.get('format_version') ?? 'missing'}, this program reads ${oldestJournalFormatVersion} to ${newestJournalFormatVersion}`,
    );
  if (meta.get('shard') !== String(shard))
    throw new JournalCorrupt(`${where}: holds shard ${meta.get('shard')}, not ${shard}`);
  if (meta.get('shards') !== String(shards))
    throw new JournalCorrupt(`${where}: written with ${meta.get('shards')} shards, not ${shards}`);
  if (!format.sealed) return { format, seal: undefined };
  const journalId = meta.get('seal_journal_id');
  const keyId = meta.get('seal_key_id');
  if (
    journalId === undefined ||
    keyId === undefined ||
    !/^[0-9a-f]{32}$/.test(journalId) ||
    !/^[0-9a-f]{16}$/.test(keyId)
  )
    throw new JournalCorrupt(`${where}: a sealed partition without a valid seal record (damaged or edited)`);
  return { format, seal: { journalId, keyId } };
}
