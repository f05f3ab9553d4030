/**
 * The durable journal partition: one SQLite database per shard (WAL mode), written only by the
 * worker that owns the shard. Each engine batch is one row of `batches` (its records encoded by
 * record-codec, with a CRC-32), inserted in one statement, so a batch is durable whole or not at
 * all; a torn write at a crash is dropped by SQLite's WAL recovery and its rows are applied again.
 * The batch's first line is the primary key: the same rows can never be stored twice.
 *
 * synchronous=NORMAL: a process crash loses nothing committed; a power loss may lose the last
 * batches, which the next run re-applies from the input, so the journal stays consistent.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { evolve, initialAccount, type AccountEvent, type AccountState } from '../domain/account.js';
import { IndexedJournal } from './indexed-journal.js';
import type { RowRef } from './journal.js';
import { applyToIndex } from './tx-index.js';
import { JournalCorrupt } from '../errors.js';
import { RecordBatchBuilder, decodeRecords, eventOf, rejectedKind, type JournalRecord } from './record-codec.js';
import {
  decodeAccounts,
  decodeTxPart,
  encodeAccounts,
  encodeTxPart,
  snapshotChecksum,
  type AccountEntry,
} from './snapshot-codec.js';
import { TxTable } from './tx-table.js';

export const journalFormatVersion = 1;
/**
 * A partition writes a snapshot once the records since the last one reach this many, or the number
 * of stored transactions if larger (and at the end of a run). A snapshot holds the whole index, so
 * a fixed interval would make snapshot writing grow with the square of the input (measured: 37.5 M
 * rows took 256 s instead of 60); this keeps it linear, and recovery never replays more records
 * than the snapshot holds.
 */
export const snapshotEveryRecordsMin = 1_000_000;
/**
 * Transactions per snapshot part (4 MiB): no blob nears SQLite's 1 GB limit and no buffer holds the
 * whole index (each part exists three times while written: columns, blob, SQLite's copy).
 * Measured at 3.75 M rows, 2 workers: 16 MiB parts peak at 368 MB RSS, 4 MiB at 310 MB.
 */
export const snapshotPartTxs = 1 << 18;
/** SQLite page cache per partition (better-sqlite3's default is 16 MiB). */
const sqliteCacheKib = 2048;

export function partitionPath(dir: string, shard: number): string {
  return join(dir, `partition-${shard}.sqlite`);
}

interface BatchRow {
  first_line: number;
  last_line: number;
  first_seq: number;
  count: number;
  events: number;
  data: Buffer;
  crc: number;
}

export interface RecoveredPartition {
  accounts: Map<number, AccountState>;
  txs: TxTable;
  /** Sequence number and line of the last record applied. */
  seq: number;
  line: number;
  events: number;
  snapshotSeq: number;
  recordsReplayed: number;
  /** A torn last batch dropped at open: its lines, to be applied again. */
  torn?: { firstLine: number; lastLine: number } | undefined;
}

export class SqliteJournal extends IndexedJournal {
  private readonly builder = new RecordBatchBuilder();
  private readonly insertBatch: Database.Statement;
  private snapshotSeq: number;
  readonly resumeLine: number;
  /** Replay cursor over the batches of an earlier run, for recordedOutcome. */
  private pending: JournalRecord[] = [];
  private pendingAt = 0;
  private cursorLine = 0;

  private constructor(
    private readonly db: Database.Database,
    private readonly where: string,
    recovered: RecoveredPartition,
  ) {
    super(recovered.txs, recovered.seq, recovered.events);
    this.snapshotSeq = recovered.snapshotSeq;
    this.resumeLine = recovered.line;
    this.insertBatch = db.prepare(
      'INSERT INTO batches (first_line, last_line, first_seq, count, events, data, crc) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Opens (or creates) a shard's partition and recovers its state: newest snapshot + later batches. */
  static open(dir: string, shard: number, shards: number): { journal: SqliteJournal; recovered: RecoveredPartition } {
    mkdirSync(dir, { recursive: true });
    const where = `journal partition ${shard} (${partitionPath(dir, shard)})`;
    const db = openDatabase(partitionPath(dir, shard), where, false);
    try {
      initSchema(db, shard, shards, where);
      const torn = dropTornTail(db, where);
      const recovered = recoverPartition(db, where, Number.POSITIVE_INFINITY);
      return { journal: new SqliteJournal(db, where, recovered), recovered: { ...recovered, torn } };
    } catch (error) {
      db.close();
      throw error;
    }
  }

  protected recordEvent(event: AccountEvent, row: RowRef): void {
    this.builder.addEvent(event, row);
  }

  protected recordRejection(reasonCode: number, row: RowRef): void {
    this.builder.addRejection(reasonCode, row);
  }

  commit(): void {
    if (this.builder.count === 0) return;
    const batch = this.builder.take();
    this.insertBatch.run(
      batch.firstLine,
      batch.lastLine,
      this.seq - batch.count + 1,
      batch.count,
      batch.events,
      batch.data,
      batch.crc,
    );
  }

  get snapshotDue(): boolean {
    return this.seq - this.snapshotSeq >= Math.max(snapshotEveryRecordsMin, this.txs.size);
  }

  /**
   * Writes a snapshot of the partition as of the last committed record, in one transaction: the
   * accounts, then the transaction index in parts of snapshotPartTxs. Keeps the two newest.
   */
  writeSnapshot(accounts: readonly AccountEntry[]): void {
    if (this.builder.count > 0) throw new Error('invariant: snapshot with uncommitted records');
    if (this.seq === this.snapshotSeq) return;
    const accountsBlob = encodeAccounts(accounts);
    const line = this.lastCommittedLine();
    const insertPart = this.db.prepare('INSERT INTO snapshot_txs (seq, part, data, crc) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      let parts = 0;
      for (const columns of this.txs.exportParts(snapshotPartTxs)) {
        const data = encodeTxPart(columns);
        insertPart.run(this.seq, parts++, data, snapshotChecksum(data));
      }
      this.db
        .prepare('INSERT INTO snapshots (seq, line, accounts, crc, tx_parts) VALUES (?, ?, ?, ?, ?)')
        .run(this.seq, line, accountsBlob, snapshotChecksum(accountsBlob), parts);
      const stale = 'SELECT seq FROM snapshots ORDER BY seq DESC LIMIT -1 OFFSET 2';
      this.db.prepare(`DELETE FROM snapshot_txs WHERE seq IN (${stale})`).run();
      this.db.prepare(`DELETE FROM snapshots WHERE seq IN (${stale})`).run();
    })();
    this.snapshotSeq = this.seq;
  }

  recordedOutcome(row: RowRef): number {
    const record = this.nextRecorded();
    if (
      record === undefined ||
      record.line !== row.line ||
      record.client !== row.client ||
      record.tx !== row.tx ||
      record.typeCode !== row.typeCode ||
      record.amount !== row.amount
    ) {
      throw new JournalCorrupt(
        `${this.where}: the journal does not match the input at line ${row.line}` +
          (record
            ? ` (it recorded line ${record.line}: client ${record.client}, tx ${record.tx})`
            : ' (it has no record for it)') +
          '; was the input file changed? Use a new --journal directory for a different input',
      );
    }
    return record.kind === rejectedKind ? record.reason : -1;
  }

  close(): void {
    this.db.close();
  }

  private nextRecorded(): JournalRecord | undefined {
    if (this.pendingAt === this.pending.length) {
      const next = this.db
        .prepare('SELECT * FROM batches WHERE first_line > ? ORDER BY first_line LIMIT 1')
        .get(this.cursorLine) as BatchRow | undefined;
      if (next === undefined) return undefined;
      this.pending = decodeRecords(next.data, next.count, next.crc, this.where);
      this.pendingAt = 0;
      this.cursorLine = next.first_line;
    }
    return this.pending[this.pendingAt++];
  }

  private lastCommittedLine(): number {
    const row = this.db.prepare('SELECT max(last_line) AS line FROM batches').get() as { line: number | null };
    return row.line ?? 0;
  }
}

/**
 * A write cut short leaves a damaged last batch: it is dropped (with any snapshot taken after it),
 * and its rows are applied again from the input. Damage anywhere else is not a torn write, and
 * recovery reports it instead.
 */
function dropTornTail(db: Database.Database, where: string): { firstLine: number; lastLine: number } | undefined {
  const last = db.prepare('SELECT * FROM batches ORDER BY first_seq DESC LIMIT 1').get() as BatchRow | undefined;
  if (last === undefined) return undefined;
  try {
    decodeRecords(last.data, last.count, last.crc, where);
    return undefined;
  } catch (error) {
    if (!(error instanceof JournalCorrupt)) throw error;
  }
  db.transaction(() => {
    db.prepare('DELETE FROM batches WHERE first_seq = ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshot_txs WHERE seq >= ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshots WHERE seq >= ?').run(last.first_seq);
  })();
  return { firstLine: last.first_line, lastLine: last.last_line };
}

function openDatabase(path: string, where: string, fileMustExist: boolean): Database.Database {
  try {
    const db = new Database(path, { fileMustExist });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Batches are appended and read back once, in order: a large page cache only adds RSS.
    db.pragma(`cache_size = -${sqliteCacheKib}`);
    return db;
  } catch (error) {
    throw new JournalCorrupt(`${where}: cannot open (${(error as Error).message})`);
  }
}

function initSchema(db: Database.Database, shard: number, shards: number, where: string): void {
  try {
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS batches (
        first_line INTEGER PRIMARY KEY, last_line INTEGER NOT NULL, first_seq INTEGER NOT NULL UNIQUE,
        count INTEGER NOT NULL, events INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshots (
        seq INTEGER PRIMARY KEY, line INTEGER NOT NULL, accounts BLOB NOT NULL, crc INTEGER NOT NULL, tx_parts INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot_txs (
        seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL, PRIMARY KEY (seq, part));
    `);
    const insertMeta = db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
    insertMeta.run('format_version', String(journalFormatVersion));
    insertMeta.run('shard', String(shard));
    insertMeta.run('shards', String(shards));
  } catch (error) {
    throw new JournalCorrupt(`${where}: unreadable (${(error as Error).message})`);
  }
  checkMeta(db, where, shard, shards);
}

function checkMeta(db: Database.Database, where: string, shard?: number, shards?: number): void {
  const meta = new Map(
    (db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]),
  );
  const version = Number(meta.get('format_version'));
  if (version > journalFormatVersion)
    throw new JournalCorrupt(
      `${where}: written by a newer version (journal format ${version}, this program reads ${journalFormatVersion})`,
    );
  if (version !== journalFormatVersion)
    throw new JournalCorrupt(`${where}: not a payments journal (format ${meta.get('format_version') ?? 'missing'})`);
  if (shard !== undefined && Number(meta.get('shard')) !== shard)
    throw new JournalCorrupt(`${where}: holds shard ${meta.get('shard')}, not ${shard}`);
  if (shards !== undefined && Number(meta.get('shards')) !== shards)
    throw new JournalCorrupt(`${where}: written with ${meta.get('shards')} shards, not ${shards}`);
}

/**
 * Rebuilds a partition's state as of `asOfLine`: the newest snapshot at or before it, then every
 * later record up to it, through the same evolve/evolveTx as live processing. Also checks that the
 * sequence numbers have no gaps and every batch its checksum.
 */
export function recoverPartition(db: Database.Database, where: string, asOfLine: number): RecoveredPartition {
  try {
    const totals = db
      .prepare(
        'SELECT count(*) AS n, coalesce(sum(count), 0) AS records, coalesce(max(first_seq + count - 1), 0) AS last, coalesce(min(first_seq), 1) AS first FROM batches',
      )
      .get() as {
      n: number;
      records: number;
      last: number;
      first: number;
    };
    if (totals.records !== totals.last || totals.first !== 1) {
      throw new JournalCorrupt(
        `${where}: sequence numbers have gaps or overlaps (${totals.records} records, last seq ${totals.last})`,
      );
    }
    const snapshot = db
      .prepare('SELECT * FROM snapshots WHERE line <= ? ORDER BY seq DESC LIMIT 1')
      .get(finite(asOfLine)) as
      { seq: number; line: number; accounts: Buffer; crc: number; tx_parts: number } | undefined;
    const accounts = new Map<number, AccountState>();
    const txs = new TxTable();
    let seq = 0;
    let line = 0;
    let events = 0;
    if (snapshot) {
      const damaged = () => new JournalCorrupt(`${where}: the snapshot at seq ${snapshot.seq} fails its checksum`);
      if (snapshotChecksum(snapshot.accounts) !== snapshot.crc) throw damaged();
      for (const entry of decodeAccounts(snapshot.accounts)) accounts.set(entry.client, entry.state);
      const parts = db.prepare('SELECT * FROM snapshot_txs WHERE seq = ? ORDER BY part').all(snapshot.seq) as {
        part: number;
        data: Buffer;
        crc: number;
      }[];
      if (parts.length !== snapshot.tx_parts) throw damaged();
      for (const part of parts) {
        if (snapshotChecksum(part.data) !== part.crc) throw damaged();
        txs.importPart(decodeTxPart(part.data));
      }
      seq = snapshot.seq;
      line = snapshot.line;
      events = (
        db.prepare('SELECT coalesce(sum(events), 0) AS e FROM batches WHERE first_seq <= ?').get(seq) as { e: number }
      ).e;
    }
    let recordsReplayed = 0;
    const batches = db
      .prepare('SELECT * FROM batches WHERE first_seq > ? ORDER BY first_seq')
      .iterate(seq) as IterableIterator<BatchRow>;
    for (const batch of batches) {
      if (batch.first_seq !== seq + 1)
        throw new JournalCorrupt(`${where}: batch at seq ${batch.first_seq} does not follow seq ${seq}`);
      for (const record of decodeRecords(batch.data, batch.count, batch.crc, where)) {
        if (record.line > asOfLine)
          return { accounts, txs, seq, line, events, snapshotSeq: snapshot?.seq ?? 0, recordsReplayed };
        const account = accounts.get(record.client) ?? initialAccount;
        if (record.kind === rejectedKind) {
          accounts.set(record.client, account); // a rejected row still opened the account
        } else {
          const event = eventOf(record);
          accounts.set(record.client, evolve(account, event));
          applyToIndex(txs, event);
          events++;
        }
        seq++;
        line = record.line;
        recordsReplayed++;
      }
    }
    return { accounts, txs, seq, line, events, snapshotSeq: snapshot?.seq ?? 0, recordsReplayed };
  } catch (error) {
    if (error instanceof JournalCorrupt) throw error;
    throw new JournalCorrupt(`${where}: unreadable (${(error as Error).message})`);
  }
}

/**
 * Opens an existing partition for reading (replay, inspect). Not read-only: after a crash SQLite
 * must replay the WAL on open, which a read-only connection cannot; nothing is written.
 */
export function openPartitionForReading(dir: string, shard: number): { db: Database.Database; where: string } {
  const where = `journal partition ${shard} (${partitionPath(dir, shard)})`;
  const db = openDatabase(partitionPath(dir, shard), where, true);
  try {
    checkMeta(db, where, shard);
  } catch (error) {
    db.close();
    throw error;
  }
  return { db, where };
}

/** Every record of a partition in sequence order (for inspect). */
export function* readRecords(db: Database.Database, where: string): Generator<JournalRecord & { seq: number }> {
  const batches = db.prepare('SELECT * FROM batches ORDER BY first_seq').iterate() as IterableIterator<BatchRow>;
  for (const batch of batches) {
    let seq = batch.first_seq;
    for (const record of decodeRecords(batch.data, batch.count, batch.crc, where)) yield { ...record, seq: seq++ };
  }
}

function finite(line: number): number {
  return Number.isFinite(line) ? line : Number.MAX_SAFE_INTEGER;
}
