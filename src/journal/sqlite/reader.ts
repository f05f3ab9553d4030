/**
 * Read-only access to existing partitions (replay, inspect). A reader never writes: not the
 * database, not its write-ahead log, and it creates no file, so that a journal can be read from a
 * read-only mount or an auditor's copy, and beside a run that is writing it. How a partition is
 * opened depends on what its last writer left beside it:
 *
 *  - no log (`-wal` absent or empty; a run that ended cleanly folds it in and removes it): the
 *    database file holds everything committed. It is opened immutable (SQLite takes no lock and
 *    creates no `-wal`/`-shm`, which a read-only WAL database otherwise needs) and checked after
 *    each read: a run that starts writing it meanwhile fails the read rather than mixing states.
 *  - a log and its index (`-wal` and `-shm`: a run is writing it, or was killed): opened read-only
 *    through SQLite's shared-memory index, as a reader beside a writer must be. SQLite may update
 *    the `-shm` (lock and index scratch space, not journal data), never the database or the log; on
 *    a read-only location it rebuilds the index in memory from the log.
 *  - a log without its index (a copy that left `-shm` out): SQLite cannot read that log without
 *    creating the index beside it, so the database and its log are copied to a private temporary
 *    directory and read there. Never the database alone: that would miss the log's batches.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, errorCode, JournalCorrupt, nativeModuleMissing, runFailure } from '../../errors.js';
import { partitionName, partitionPath, type JournalFormat } from '../format.js';
import type { StoredUnits } from './recovery.js';
import { checkFormatAgrees, checkMeta, checkSealAgrees } from './schema.js';
import { keyForJournal, PartitionSeal, type JournalKeyring, type JournalSealInfo } from '../seal.js';
import { isMissingBinding } from './sqlite-errors.js';

/** An open partition; as StoredUnits, how its batches and snapshots are read. */
export interface PartitionReader extends StoredUnits {
  readonly db: Database.Database;
  readonly where: string;
  /** The partition's format (its batch codec), checked against its manifest's. */
  readonly format: JournalFormat;
  /** Opens the partition's sealed units; undefined for a journal that is not sealed. */
  readonly seal?: PartitionSeal;
  /** Throws if the partition may have changed since it was opened (call after reading, before using what was read). */
  check(): void;
  /** Closes the database (and removes a private copy). */
  close(): void;
}

/** An open database, before its meta rows say how to read it. */
type OpenDatabase = Omit<PartitionReader, 'format' | 'seal'>;

/** A sealed journal's seal (from its manifest) and the keys a reader was given. */
export interface ReaderSeal {
  readonly seal: JournalSealInfo;
  readonly keys: JournalKeyring;
}

/** What a journal's manifest says of its partitions. */
export interface PartitionsOf {
  readonly shards: number;
  readonly formatVersion: number;
}

/**
 * Opens partition `shard` of a journal, checking it is that partition, of the format its manifest
 * says (a partition's format says how its batches are encoded: one edited would be misread) and
 * sealed as its manifest says. `close` it after use.
 */
export function openPartition(dir: string, shard: number, journal: PartitionsOf, sealed?: ReaderSeal): PartitionReader {
  const where = partitionName(dir, shard);
  const path = resolve(partitionPath(dir, shard));
  const main = statOf(path, where);
  if (main === undefined) throw new JournalCorrupt(`${where}: missing`);
  const wal = statOf(`${path}-wal`, where);
  let opened: OpenDatabase;
  if (wal === undefined || wal.size === 0) opened = immutableReader(path, where, main, wal);
  else if (existsSync(`${path}-shm`)) opened = sharedReader(path, where);
  else opened = privateCopyReader(path, where);
  try {
    const meta = checkMeta(opened.db, where, shard, journal.shards);
    checkSealAgrees(where, meta.seal, sealed?.seal);
    checkFormatAgrees(where, meta.format.version, journal.formatVersion);
    const seal =
      sealed &&
      new PartitionSeal(sealed.seal, shard, keyForJournal(`journal ${dir}`, sealed.seal, sealed.keys), sealed.keys);
    return { ...opened, format: meta.format, ...(seal ? { seal } : {}) };
  } catch (error) {
    opened.close();
    throw error;
  }
}

/** Opens a partition, `use`s it, checks it did not change meanwhile, closes it. */
export function withPartition<T>(
  dir: string,
  shard: number,
  journal: PartitionsOf,
  sealed: ReaderSeal | undefined,
  use: (reader: PartitionReader) => T,
): T {
  const reader = openPartition(dir, shard, journal, sealed);
  try {
    const result = use(reader);
    reader.check();
    return result;
  } finally {
    reader.close();
  }
}

function statOf(path: string, where: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new JournalCorrupt(`${where}: cannot read ${path} (${describeError(error)})`);
  }
}

/** Opens `name` (a path, or a file: URI) read-only; nothing is set that would write. */
function openReadOnly(name: string, where: string): Database.Database {
  try {
    return new Database(name, { readonly: true, fileMustExist: true });
  } catch (error) {
    if (isMissingBinding(error)) throw nativeModuleMissing('better-sqlite3');
    throw new JournalCorrupt(`${where}: cannot open it read-only (${describeError(error)})`);
  }
}

function immutableReader(path: string, where: string, main: Stats, wal: Stats | undefined): OpenDatabase {
  // SQLITE_USE_URI=1 (schema.ts) lets the name carry `immutable`; a path never starts with "file:".
  const db = openReadOnly(`${pathToFileURL(path).href}?immutable=1`, where);
  const same = (a: Stats | undefined, b: Stats | undefined) =>
    a === b || (a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);
  return {
    db,
    where,
    check: () => {
      // A writer writes the database only through its log: unchanged file and no new log = nothing written.
      if (!same(main, statOf(path, where)) || !same(wal, statOf(`${path}-wal`, where)))
        throw runFailure(`${where}: written by a run while it was being read; read it again once the run is over`);
    },
    close: () => db.close(),
  };
}

function sharedReader(path: string, where: string): OpenDatabase {
  const db = openReadOnly(path, where);
  return { db, where, check: () => undefined, close: () => db.close() };
}

function privateCopyReader(path: string, where: string): OpenDatabase {
  const scratch = mkdtempSync(join(tmpdir(), 'payments-journal-read-'));
  const copy = join(scratch, 'partition.sqlite');
  let db: Database.Database;
  try {
    copyFileSync(`${path}-wal`, `${copy}-wal`);
    copyFileSync(path, copy);
    db = openReadOnly(copy, where);
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    if (error instanceof JournalCorrupt) throw error;
    throw runFailure(
      `${where}: its log (-wal) has no index (-shm) beside it, and copying both to ${scratch} to read them failed (${describeError(error)})`,
    );
  }
  return {
    db,
    where,
    check: () => undefined,
    close: () => {
      db.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
