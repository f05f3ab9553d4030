/**
 * The durable journal partition: one SQLite database per shard (WAL mode), written only by the
 * worker that owns the shard. Each engine batch is one row of `batches` (its records encoded by
 * record-codec, with a checksum over the row), inserted in one statement, so a batch is durable
 * whole or not at all. The batch's first line is the primary key: the same rows can never be
 * stored twice (the idempotency key is the input line).
 *
 * synchronous=NORMAL: a process crash loses nothing committed; a power loss may lose the last
 * batches, which the next run re-applies from the input, so the journal stays consistent.
 */
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import type { AccountEvent } from '../../domain/account.js';
import { snapshotEveryRecordsMin, snapshotPartTxs } from '../../constants.js';
import { partitionName, partitionPath, type JournalFormat } from '../format.js';
import type { EngineState, JournalPartition, JournalRecord, Recovery, RowRef } from '../../engine/journal-port.js';
import type { InputProof } from '../../io/input-proof.js';
import { RecordBatchBuilder, storedBatchColumns, storedBatchValues } from '../record-codec.js';
import { encodeAccounts, encodeTxPart, snapshotChecksum } from '../snapshot-codec.js';
import {
  accountsOnlyParts,
  partitionExtent,
  readInputProofs,
  readLines,
  readSnapshot,
  readTail,
  type StoredUnits,
} from './recovery.js';
import { initSchema, openDatabase } from './schema.js';
import { keyForJournal, PartitionSeal, type JournalKeyring, type JournalSealInfo } from '../seal.js';
import { dropTornTail } from './torn-tail.js';

export class SqliteJournal implements JournalPartition {
  private readonly builder = new RecordBatchBuilder();
  private readonly insertBatch: Database.Statement;
  private seq = 0;
  private lastLine = 0;
  private snapshotSeq = 0;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly where: string,
    /** The partition's format: its batch codec, and whether a finished partition may snapshot its accounts alone. */
    private readonly format: JournalFormat,
    /** Seals every unit written and opens every unit read; undefined for a journal that is not sealed. */
    private readonly seal: PartitionSeal | undefined,
  ) {
    this.insertBatch = db.prepare(`INSERT INTO batches (${storedBatchColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  }

  /**
   * Opens (or creates) a shard's partition in `dir`; `sealed`: the journal's seal (from its
   * manifest) and the keys given, for a sealed journal; `formatVersion`: the journal's format, from
   * its manifest (a new journal's by default).
   */
  static open(
    dir: string,
    shard: number,
    shards: number,
    sealed?: { seal: JournalSealInfo; keys: JournalKeyring },
    formatVersion?: number,
  ): SqliteJournal {
    mkdirSync(dir, { recursive: true });
    const where = partitionName(dir, shard);
    const db = openDatabase(partitionPath(dir, shard), where, false);
    try {
      const { format } = initSchema(db, shard, shards, where, sealed?.seal, formatVersion);
      const seal =
        sealed &&
        new PartitionSeal(sealed.seal, shard, keyForJournal(`journal ${dir}`, sealed.seal, sealed.keys), sealed.keys);
      return new SqliteJournal(db, where, format, seal);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  recover(): Recovery {
    const torn = dropTornTail(this.db);
    const extent = partitionExtent(this.db, this.where);
    const snapshot = readSnapshot(this.db, this.where, Number.POSITIVE_INFINITY, this.units);
    // A newer snapshot of the accounts alone (a finished partition's last) is no recovery point,
    // but it is what replay reads: checked now, its damage is refused here rather than later.
    readSnapshot(this.db, this.where, Number.POSITIVE_INFINITY, this.units, false);
    this.seq = extent.lastSeq;
    this.lastLine = extent.lastLine;
    this.snapshotSeq = snapshot?.seq ?? 0;
    const tail = readTail(this.db, this.where, this.snapshotSeq, Number.POSITIVE_INFINITY, this.units);
    const inputProofs = readInputProofs(this.db, this.where);
    return { snapshot, tail, lastSeq: extent.lastSeq, resumeLine: extent.lastLine, torn, inputProofs };
  }

  private get units(): StoredUnits {
    return { format: this.format, seal: this.seal };
  }

  recordEvent(event: AccountEvent, row: RowRef): void {
    this.builder.addEvent(event, row);
  }

  recordRejection(reasonCode: number, row: RowRef): void {
    this.builder.addRejection(reasonCode, row);
  }

  commit(proof?: InputProof): void {
    if (this.builder.count === 0) return;
    const b = this.builder.take(this.seq + 1, proof, this.format.codec, this.seal);
    // The batches table is keyed by a batch's first line alone: a batch starting at or before a line
    // already committed would be stored beside it, a second copy that makes the partition unreadable.
    if (b.first_line <= this.lastLine)
      throw new Error(`invariant: ${this.where} already holds line ${b.first_line} (committed up to ${this.lastLine})`);
    this.insertBatch.run(...storedBatchValues(b));
    this.seq += b.count;
    this.lastLine = b.last_line;
  }

  snapshotDue(storedTxs: number): boolean {
    return this.seq - this.snapshotSeq >= Math.max(snapshotEveryRecordsMin, storedTxs);
  }

  /**
   * Writes a snapshot as of the last committed record, in one transaction: the accounts, then the
   * transaction index in parts of snapshotPartTxs. Keeps the two newest whole ones. A finished
   * partition (`state.accountsOnly`) of a format that allows it stores its accounts alone
   * (tx_parts = -1): what replay reads; it is no recovery point, and replaces only an older one of
   * its kind, so the newest whole snapshot stays for a recovery.
   */
  writeSnapshot(state: EngineState): void {
    if (this.builder.count > 0) throw new Error('invariant: snapshot with uncommitted records');
    const accountsOnly = state.accountsOnly === true && this.format.accountsOnlySnapshots;
    const { seq, lastLine: line, db, seal } = this;
    if (seq === (accountsOnly ? this.accountsSeq() : this.snapshotSeq)) return;
    const plainAccounts = encodeAccounts(state.accounts);
    const insertPart = db.prepare('INSERT INTO snapshot_txs (seq, part, data, crc) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      let parts = accountsOnly ? accountsOnlyParts : 0;
      for (const part of accountsOnly ? [] : state.txParts(snapshotPartTxs)) {
        const plain = encodeTxPart(part);
        const data = seal ? seal.seal('txPart', plain, [seq, parts]) : plain;
        insertPart.run(seq, parts, data, snapshotChecksum(data, seq, parts));
        parts++;
      }
      // A whole snapshot supersedes the accounts-only ones up to it (one at its seq would clash).
      if (!accountsOnly) db.prepare('DELETE FROM snapshots WHERE tx_parts < 0 AND seq <= ?').run(seq);
      const accounts = seal ? seal.seal('accounts', plainAccounts, [seq, line, state.events, parts]) : plainAccounts;
      db.prepare('INSERT INTO snapshots (seq, line, events, accounts, crc, tx_parts) VALUES (?, ?, ?, ?, ?, ?)').run(
        seq,
        line,
        state.events,
        accounts,
        snapshotChecksum(accounts, seq, line, state.events, parts),
        parts,
      );
      const stale = accountsOnly
        ? 'SELECT seq FROM snapshots WHERE tx_parts < 0 ORDER BY seq DESC LIMIT -1 OFFSET 1'
        : 'SELECT seq FROM snapshots WHERE tx_parts >= 0 ORDER BY seq DESC LIMIT -1 OFFSET 2';
      db.prepare(`DELETE FROM snapshot_txs WHERE seq IN (${stale})`).run();
      db.prepare(`DELETE FROM snapshots WHERE seq IN (${stale})`).run();
    })();
    if (!accountsOnly) this.snapshotSeq = seq;
  }

  /** The seq of the newest snapshot, whole or of the accounts alone (0: none). */
  private accountsSeq(): number {
    const row = this.db.prepare('SELECT max(seq) AS seq FROM snapshots').get() as { seq: number | null };
    return row.seq ?? 0;
  }

  recordedOutcomes(firstLine: number, lastLine: number): JournalRecord[] {
    return readLines(this.db, this.where, firstLine, lastLine, this.units);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
