/**
 * One shard's partition of a PostgreSQL journal, written by that shard's worker alone over its own
 * connection. Every commit is one row of payments.batches (key: journal, partition, first line)
 * holding the batch's records (compact-codec.ts) and a checksum over them and every field of the
 * row: one INSERT, one round trip. A commit retried on a new connection first looks for the batch's
 * row, so it is never applied twice. An advisory lock keeps a second run off the partition; a
 * cluster node's session is fenced by its lease generation instead (see lockPartition, run-lock.ts).
 */
import type pg from 'pg';
import { snapshotEveryRecordsMin } from '../../constants.js'; // snapshot policy shared with the SQLite journal
import type { AccountEvent } from '../../domain/account.js';
import type { InputProof } from '../../io/input-proof.js';
import { JournalCorrupt } from '../../errors.js';
import type {
  EngineState,
  JournalPartition,
  JournalRecord,
  Recovery,
  RecoveredSnapshot,
  RowRef,
} from '../../engine/journal-port.js';
import { layered, writeSnapshotRows } from './snapshot-write.js';
import { RecordBatchBuilder, storedBatchColumns, storedBatchValues, type StoredBatch } from '../record-codec.js';
import { readOnly, RetryingConnection } from './connection.js';
import {
  checkedLastSeq,
  checkSnapshot,
  fetchColumns,
  type CheckedBatch,
  fetchRecords,
  firstBatchEndingAtOrAfter,
  readBatches,
  readSnapshot,
  windowEnd,
  type BatchInfo,
  type PartitionRef,
} from './partition-read.js';
import { lockPartition } from './run-lock.js';
import type { PostgresTarget } from './url.js';
import { keyForJournal, PartitionSeal, refuseKeyForPlainJournal, type JournalKeyring } from '../seal.js';

export interface PostgresPartitionOptions {
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** For replay and inspect: takes no lock (a running writer is not disturbed) and writes nothing. */
  readonly readOnly?: boolean;
  /**
   * Keys for a sealed journal (seal.ts): one of them must be the journal's, or opening is exit 2
   * naming its key id. A writer given keys for a journal that is not sealed is refused (it would
   * leave it half sealed); a reader ignores them. The cluster passes its node's keys here.
   */
  readonly keys?: JournalKeyring;
  /**
   * A read-only session (readerSession()) shared by a reader of several partitions, which closes
   * it itself: every session is a server backend of its own to start. Only with readOnly.
   */
  readonly session?: RetryingConnection;
}

export class PostgresPartition implements JournalPartition {
  private readonly connection: RetryingConnection;
  /** False for a shared reader session: its owner ends it. */
  private readonly ownsConnection: boolean;
  private readonly where: string;
  private ref: PartitionRef;
  private readonly keys: JournalKeyring;
  private readonly readOnly: boolean;
  private readonly builder = new RecordBatchBuilder();
  /** The sequence number the next record gets. */
  private nextSeq = 1;
  private journalId = 0;
  private batches: BatchInfo[] = [];
  private snapshotSeq = 0;
  /** The newest full snapshot (0: none): the one a layered snapshot is written over. */
  private fullSeq = 0;
  private committedSeq = 0;
  private committedLine = 0;
  /** Last line of the last batch handed to the server (committed, or in flight). */
  private sentLine = 0;
  private inFlight: Promise<void> | undefined;
  /** Records read ahead for recordedOutcomes, and where the next answer starts in them. */
  private readAhead: JournalRecord[] = [];
  private readAheadAt = 0;

  constructor(
    readonly target: PostgresTarget,
    readonly shard: number,
    readonly shards: number,
    options: PostgresPartitionOptions = {},
  ) {
    this.where = `journal ${target.display} partition ${shard}`;
    this.keys = options.keys ?? [];
    this.readOnly = options.readOnly === true;
    this.ref = { journal: target.journal, shard, shards, where: this.where };
    if (options.session !== undefined && !this.readOnly) throw new Error('invariant: a shared session only reads');
    this.ownsConnection = options.session === undefined;
    let connected = false;
    const onConnect = this.readOnly
      ? readOnly
      : async (client: pg.Client) => {
          await lockPartition(client, this.ref, connected);
          connected = true;
        };
    const name = `payments ${target.journal} shard ${shard}`;
    this.connection = options.session ?? new RetryingConnection(target, name, onConnect, options.onRetry);
  }

  get retries(): number {
    return this.connection.retries;
  }

  async recover(): Promise<Recovery> {
    await this.load();
    const snapshot = await this.snapshotAsOf(Number.POSITIVE_INFINITY);
    // A newer snapshot of the accounts alone (a finished partition's last) is no recovery point,
    // but it is what replay reads: checked now, its damage is refused here rather than later.
    await this.snapshotAsOf(Number.POSITIVE_INFINITY, false);
    this.snapshotSeq = snapshot?.seq ?? 0;
    this.fullSeq = snapshot?.baseSeq ?? 0;
    this.nextSeq = this.committedSeq + 1;
    this.sentLine = this.committedLine;
    return {
      snapshot,
      tail: this.records(this.snapshotSeq),
      lastSeq: this.committedSeq,
      resumeLine: this.committedLine,
      torn: undefined, // a transaction commits whole or not at all: nothing is ever torn
      inputProofs: this.batches.map((b) => b.proof),
    };
  }

  /**
   * Reads the journal's row and the partition's batches (checking the shard count and that the
   * sequence numbers have no gap). Recovery does this first; replay and inspect too (read-only).
   */
  async load(): Promise<{ lastSeq: number; lastLine: number }> {
    const loaded = await this.connection.run('reading the journal', (client) =>
      readBatches(client, this.ref, this.shards),
    );
    this.journalId = loaded.id;
    this.batches = loaded.batches;
    if (loaded.seal) {
      const key = keyForJournal(`journal ${this.target.display}`, loaded.seal, this.keys);
      this.ref = { ...this.ref, seal: new PartitionSeal(loaded.seal, this.shard, key, this.keys) };
    } else if (this.keys.length > 0 && !this.readOnly) throw refuseKeyForPlainJournal(`journal ${this.target.display}`);
    this.committedSeq = checkedLastSeq(this.batches, this.where);
    this.committedLine = this.batches[this.batches.length - 1]?.lastLine ?? 0;
    return { lastSeq: this.committedSeq, lastLine: this.committedLine };
  }

  /** How far the partition got (after `load`). */
  get extent(): { lastSeq: number; lastLine: number } {
    return { lastSeq: this.committedSeq, lastLine: this.committedLine };
  }

  /** The newest snapshot taken at or before input line `asOfLine`, checked (after `load`); `txIndex` false: its accounts alone. */
  async snapshotAsOf(asOfLine: number, txIndex = true): Promise<RecoveredSnapshot | undefined> {
    const snapshot = await this.connection.run('reading a snapshot', (client) =>
      readSnapshot(client, this.ref, asOfLine, txIndex),
    );
    if (snapshot) checkSnapshot(this.batches, snapshot, this.where);
    return snapshot;
  }

  /** Every record after seq `afterSeq`, up to input line `asOfLine`, in order, each batch checked (after `load`). */
  async *records(afterSeq: number, asOfLine = Number.POSITIVE_INFINITY): AsyncGenerator<JournalRecord> {
    const batches = this.batches.filter((b) => b.firstSeq > afterSeq && b.firstLine <= asOfLine);
    for await (const record of this.readBatches(batches)) {
      if (record.line > asOfLine) return;
      yield record;
    }
  }

  /**
   * The records of `batches` (consecutive, in order), read in windows of about pgReadWindowRecords;
   * each batch is checked whole (checksum, count, lines) before any of its records is handed out.
   */
  private async *readBatches(batches: readonly BatchInfo[]): AsyncGenerator<JournalRecord> {
    let from = 0;
    while (from < batches.length) {
      const to = windowEnd(batches, from);
      const window = batches.slice(from, to);
      yield* await this.connection.run('reading the journal', (client) => this.fetch(client, window));
      from = to;
    }
  }

  /** Every batch after seq `afterSeq` as checked columns, in windows (after `load`): inspect's path. */
  async *batchColumns(afterSeq: number): AsyncGenerator<CheckedBatch> {
    const batches = this.batches.filter((b) => b.firstSeq > afterSeq);
    for (let from = 0; from < batches.length;) {
      const to = windowEnd(batches, from);
      const window = batches.slice(from, to);
      yield* await this.connection.run('reading the journal', (client) => fetchColumns(client, this.ref, window));
      from = to;
    }
  }

  private fetch(client: pg.Client, batches: readonly BatchInfo[]): Promise<JournalRecord[]> {
    return fetchRecords(client, this.ref, batches);
  }

  recordEvent(event: AccountEvent, row: RowRef): void {
    this.builder.addEvent(event, row);
  }

  recordRejection(reasonCode: number, row: RowRef): void {
    this.builder.addRejection(reasonCode, row);
  }

  recordCodes(
    eventCode: number,
    reasonCode: number,
    line: number,
    typeCode: number,
    client: number,
    tx: number,
    amount: number,
  ): void {
    this.builder.addCodes(eventCode, reasonCode, line, typeCode, client, tx, amount);
  }

  /**
   * Sends the batch and returns once the previous one is durable: one batch per partition is in
   * flight while the engine applies the next, so the server's work overlaps the engine's. A crash
   * loses at most that batch, never half of it, and the resumed run applies its rows again (as
   * SQLite's synchronous=NORMAL may lose the last batches at a power loss). A snapshot, recorded
   * outcomes and close wait for it; its failure is reported by the next of these calls.
   */
  async commit(proof?: InputProof): Promise<void> {
    if (this.builder.count === 0) return;
    const batch = this.builder.take(this.nextSeq, proof, 'compact', this.ref.seal);
    if (batch.first_line <= this.sentLine)
      throw new Error(`invariant: ${this.where} already holds line ${batch.first_line} (sent up to ${this.sentLine})`);
    this.nextSeq += batch.count;
    this.sentLine = batch.last_line;
    await this.settle();
    const sending = this.connection
      .run('committing a batch', async (client, attempt) => {
        if (attempt > 0 && (await this.alreadyCommitted(client, batch))) return;
        await this.writeBatch(client, batch);
      })
      .then(() => {
        this.committedSeq = batch.first_seq + batch.count - 1;
        this.committedLine = batch.last_line;
      });
    sending.catch(() => undefined); // reported by settle(), not as an unhandled rejection
    this.inFlight = sending;
  }

  /** Waits until the batch in flight (if any) is durable; throws its failure. */
  async settle(): Promise<void> {
    const sending = this.inFlight;
    this.inFlight = undefined;
    await sending;
  }

  /**
   * One INSERT, committed on its own: the row is the whole batch, so there is no multi-statement
   * transaction to keep open. The lease generation column takes the session's fence setting
   * (cluster/schema.ts), so each batch says which owner wrote it.
   */
  protected async writeBatch(client: pg.Client, b: StoredBatch): Promise<void> {
    await client.query({
      text: `INSERT INTO payments.batches (journal, partition, ${storedBatchColumns})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      values: [this.target.journal, this.shard, ...storedBatchValues(b)],
    });
  }

  /** After a lost connection: did the last attempt's commit reach the server? */
  private async alreadyCommitted(client: pg.Client, batch: StoredBatch): Promise<boolean> {
    const found = await client.query(
      'SELECT first_seq, count, crc FROM payments.batches WHERE journal = $1 AND partition = $2 AND first_line = $3',
      [this.target.journal, this.shard, batch.first_line],
    );
    const row = found.rows[0];
    if (row === undefined) return false;
    if (Number(row.first_seq) !== batch.first_seq || row.count !== batch.count || Number(row.crc) !== batch.crc)
      throw new JournalCorrupt(`${this.where}: the batch at line ${batch.first_line} was committed with other records`);
    return true;
  }

  snapshotDue(storedTxs: number): boolean {
    return this.committedSeq - this.snapshotSeq >= Math.max(snapshotEveryRecordsMin, storedTxs);
  }

  async writeSnapshot(state: EngineState): Promise<void> {
    if (this.builder.count > 0) throw new Error('invariant: snapshot with uncommitted records');
    await this.settle();
    const seq = this.committedSeq;
    if (seq === this.snapshotSeq) return;
    const at = { ...this.ref, journal: this.target.journal, seq, line: this.committedLine, fullSeq: this.fullSeq };
    const accountsOnly = state.accountsOnly === true;
    const full = !accountsOnly && !layered(state, at);
    await this.connection.run('writing a snapshot', async (client, attempt) => {
      if (attempt > 0) {
        // A retry after a lost COMMIT: the snapshot may be stored already.
        const found = await client.query(
          'SELECT 1 FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND seq = $3 AND (tx_parts >= 0) = $4',
          [this.target.journal, this.shard, seq, !accountsOnly],
        );
        if (found.rows.length > 0) return;
      }
      await writeSnapshotRows(client, state, at);
    });
    // An accounts-only snapshot is no recovery point: a later whole one is still due.
    if (accountsOnly) return;
    this.snapshotSeq = seq;
    if (full) this.fullSeq = seq;
    state.written?.(seq, full);
  }

  /**
   * Answered from a read-ahead of about pgReadWindowRecords records (whole batches, checked), so a
   * resumed run reads its journal back in a few dozen COPYs rather than one per engine batch.
   */
  async recordedOutcomes(firstLine: number, lastLine: number): Promise<readonly JournalRecord[]> {
    await this.settle();
    const records: JournalRecord[] = [];
    let line = firstLine;
    while (line <= lastLine) {
      if (this.readAhead.length === 0 || this.readAhead[this.readAhead.length - 1]!.line < line) {
        const from = firstBatchEndingAtOrAfter(this.batches, line);
        if (from === this.batches.length || this.batches[from]!.firstLine > lastLine) break;
        const to = windowEnd(this.batches, from);
        this.readAhead = await this.connection.run('reading the journal', (client) =>
          this.fetch(client, this.batches.slice(from, to)),
        );
        this.readAheadAt = 0;
      }
      const ahead = this.readAhead;
      let i = this.readAheadAt;
      while (i < ahead.length && ahead[i]!.line < line) i++;
      while (i < ahead.length && ahead[i]!.line <= lastLine) records.push(ahead[i++]!);
      this.readAheadAt = i;
      if (i < ahead.length) break; // the next record is past lastLine
      line = ahead.length > 0 ? ahead[ahead.length - 1]!.line + 1 : lastLine + 1;
    }
    return records;
  }

  /** Ends the session at once (what it waits for fails): its owner has stopped waiting for it. */
  abandon(): void {
    this.connection.abandon();
  }

  async close(): Promise<void> {
    // A batch handed to commit() was committed as far as the engine knows: let it land (or fail).
    await this.settle().catch(() => undefined);
    this.builder.discard();
    if (this.ownsConnection) await this.connection.drop();
  }

  /** The journal's id in payments.journals (its tables are named after it). */
  get id(): number {
    return this.journalId;
  }
}
