/** A partition database: opening it, its tables, and the meta rows that say what it holds. */
import Database from 'better-sqlite3';
import { resolve } from 'node:path';
import { sqliteCacheKib } from '../../constants.js';
import { describeError, JournalCorrupt, nativeModuleMissing } from '../../errors.js';
import { journalFormatVersion } from '../format.js';
import { isMissingBinding, isSqliteCantOpen } from './sqlite-errors.js';

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
    throw new JournalCorrupt(`${where}: cannot open (${describeError(error)})`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Batches are appended and read back once, in order: a large page cache only adds RSS.
    db.pragma(`cache_size = -${sqliteCacheKib}`);
    return db;
  } catch (error) {
    db.close();
    throw new JournalCorrupt(`${where}: unreadable (${describeError(error)})`);
  }
}

/** Creates the tables of a new partition and records what it holds; checks an existing one. */
export function initSchema(db: Database.Database, shard: number, shards: number, where: string): void {
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
    insertMeta.run('format_version', String(journalFormatVersion));
    insertMeta.run('shard', String(shard));
    insertMeta.run('shards', String(shards));
  } catch (error) {
    if (error instanceof JournalCorrupt) throw error;
    throw new JournalCorrupt(`${where}: unreadable (${describeError(error)})`);
  }
  checkMeta(db, where, shard, shards);
}

/** Checks the partition's format version, and that it holds `shard` of `shards`. */
export function checkMeta(db: Database.Database, where: string, shard: number, shards: number): void {
  let rows: { key: string; value: string }[];
  try {
    rows = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
  } catch (error) {
    throw new JournalCorrupt(`${where}: not a payments journal partition (${describeError(error)})`);
  }
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  const version = Number(meta.get('format_version'));
  if (version > journalFormatVersion)
    throw new JournalCorrupt(
      `${where}: written by a newer version (journal format ${version}, this program reads ${journalFormatVersion})`,
    );
  if (version !== journalFormatVersion)
    throw new JournalCorrupt(
      `${where}: journal format ${meta.get('format_version') ?? 'missing'}, this program reads ${journalFormatVersion}`,
    );
  if (meta.get('shard') !== String(shard))
    throw new JournalCorrupt(`${where}: holds shard ${meta.get('shard')}, not ${shard}`);
  if (meta.get('shards') !== String(shards))
    throw new JournalCorrupt(`${where}: written with ${meta.get('shards')} shards, not ${shards}`);
}
