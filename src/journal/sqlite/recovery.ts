/**
 * Reading a partition's history back, trusting nothing unchecked: the sequence numbers are gapless
 * from 1, every batch passes its checksum (which covers its lines, sequence number and counts) and
 * follows the one before it, and the snapshot passes its checksum and agrees with the batches (it
 * ends where a batch ends, at that batch's last line, with the events the batches hold up to it).
 * Anything else is JournalCorrupt naming the partition.
 */
import type Database from 'better-sqlite3';
import { describeError, JournalCorrupt } from '../../errors.js';
import type { JournalRecord, RecoveredSnapshot } from '../../engine/journal-port.js';
import type { InputProof } from '../../io/input-proof.js';
import type { JournalFormat } from '../format.js';
import { decodeRecords, type StoredBatch } from '../record-codec.js';
import { decodeAccounts, decodeTxPart, snapshotChecksum } from '../snapshot-codec.js';
import type { PartitionSeal } from '../seal.js';
import { isSqliteDamage } from './sqlite-errors.js';

/** How a partition's stored units are read: by its format (the batch codec), and its seal (undefined: not sealed). */
export interface StoredUnits {
  readonly format: JournalFormat;
  readonly seal?: PartitionSeal | undefined;
}

/** tx_parts of a snapshot of the accounts alone (a finished partition's last; journal format 5 and later). */
export const accountsOnlyParts = -1;

/**
 * Checks the index-part count a snapshot row records against its partition's format and the parts
 * stored with it (none for the accounts alone); throws what `damaged` makes otherwise.
 */
export function checkSnapshotParts(
  recorded: number,
  stored: number,
  format: JournalFormat,
  damaged: (what: string) => Error,
): void {
  if (recorded < accountsOnlyParts) throw damaged(`records ${recorded} index parts`);
  if (recorded === accountsOnlyParts && !format.accountsOnlySnapshots)
    throw damaged(`holds accounts alone, which journal format ${format.version} never stores`);
  if (stored !== Math.max(0, recorded)) throw damaged(`has ${stored} index parts, not ${Math.max(0, recorded)}`);
}

/** How far a partition got: its last sequence number and the last input line it recorded. */
export interface PartitionExtent {
  readonly lastSeq: number;
  readonly lastLine: number;
}

/** Runs `read`, turning SQLite's own errors (a malformed file, a missing table) into JournalCorrupt. */
function guarded<T>(where: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof JournalCorrupt) throw error;
    if (isSqliteDamage(error)) throw new JournalCorrupt(`${where}: unreadable (${describeError(error)})`);
    throw error;
  }
}

export function partitionExtent(db: Database.Database, where: string): PartitionExtent {
  return guarded(where, () => {
    const t = db
      .prepare(
        `SELECT count(*) AS n, coalesce(sum(count), 0) AS records, coalesce(max(first_seq + count - 1), 0) AS last,
           coalesce(min(first_seq), 1) AS first, coalesce(max(last_line), 0) AS line FROM batches`,
      )
      .get() as { n: number; records: number; last: number; first: number; line: number };
    if (t.records !== t.last || t.first !== 1)
      throw new JournalCorrupt(
        `${where}: sequence numbers have gaps or overlaps (${t.records} records, last seq ${t.last})`,
      );
    return { lastSeq: t.last, lastLine: t.line };
  });
}

/**
 * The newest snapshot taken at or before `asOfLine`, checked against its checksums and the batches.
 * `txIndex` false (replay): a snapshot of the accounts alone will do, and the index is left unread.
 * A recovery needs the index, so it reads whole snapshots only.
 */
export function readSnapshot(
  db: Database.Database,
  where: string,
  asOfLine: number,
  units: StoredUnits,
  txIndex = true,
): RecoveredSnapshot | undefined {
  return guarded(where, () => {
    const s = db
      .prepare(
        `SELECT * FROM snapshots WHERE line <= ?${txIndex ? ' AND tx_parts >= 0' : ''} ORDER BY seq DESC LIMIT 1`,
      )
      .get(finite(asOfLine)) as
      { seq: number; line: number; events: number; accounts: Buffer; crc: number; tx_parts: number } | undefined;
    if (s === undefined) return undefined;
    const { seal } = units;
    const damaged = (what: string) =>
      new JournalCorrupt(`${where}: the snapshot at seq ${s.seq} ${what} (damaged or edited)`);
    if (snapshotChecksum(s.accounts, s.seq, s.line, s.events, s.tx_parts) !== s.crc)
      throw damaged('fails its checksum');
    const end = db.prepare('SELECT last_line FROM batches WHERE first_seq + count - 1 = ?').get(s.seq) as
      { last_line: number } | undefined;
    if (end === undefined || end.last_line !== s.line) throw damaged('does not end where a batch ends');
    const { events } = db
      .prepare('SELECT coalesce(sum(events), 0) AS events FROM batches WHERE first_seq <= ?')
      .get(s.seq) as {
      events: number;
    };
    if (events !== s.events) throw damaged(`counts ${s.events} events where the batches hold ${events}`);
    const parts = db.prepare('SELECT * FROM snapshot_txs WHERE seq = ? ORDER BY part').all(s.seq) as {
      part: number;
      data: Buffer;
      crc: number;
    }[];
    checkSnapshotParts(s.tx_parts, parts.length, units.format, damaged);
    const unit = `${where}: the snapshot at seq ${s.seq}`;
    const accounts = seal ? seal.open('accounts', s.accounts, [s.seq, s.line, s.events, s.tx_parts], unit) : s.accounts;
    // Replaying accounts needs no transaction index: most of a snapshot's bytes, left unread.
    const txParts = txIndex
      ? parts.map((p, i) => {
          if (p.part !== i || snapshotChecksum(p.data, s.seq, p.part) !== p.crc)
            throw damaged(`index part ${i} fails its checksum`);
          return decodeTxPart(seal ? seal.open('txPart', p.data, [s.seq, i], `${unit} (index part ${i})`) : p.data);
        })
      : [];
    return { seq: s.seq, line: s.line, events: s.events, accounts: decodeAccounts(accounts), txParts };
  });
}

/**
 * Every record after sequence number `afterSeq` (a batch boundary: a snapshot's end, or 0), up to
 * input line `asOfLine`, checked batch by batch. Read lazily: the caller consumes it before writing.
 */
export function* readTail(
  db: Database.Database,
  where: string,
  afterSeq: number,
  asOfLine: number,
  units: StoredUnits,
): Generator<JournalRecord> {
  try {
    const batches = db
      .prepare('SELECT * FROM batches WHERE first_seq > ? ORDER BY first_seq')
      .iterate(afterSeq) as IterableIterator<StoredBatch>;
    let seq = afterSeq;
    let line = -1;
    for (const batch of batches) {
      if (batch.first_seq !== seq + 1)
        throw new JournalCorrupt(`${where}: batch at seq ${batch.first_seq} does not follow seq ${seq}`);
      if (batch.first_line <= line)
        throw new JournalCorrupt(`${where}: batch at seq ${batch.first_seq} repeats line ${batch.first_line}`);
      line = batch.last_line;
      for (const record of decodeRecords(batch, where, units.format.codec, units.seal)) {
        if (record.line > asOfLine) return;
        seq = record.seq;
        yield record;
      }
    }
  } catch (error) {
    guarded(where, () => {
      throw error;
    });
  }
}

/**
 * The input proof of every batch, in commit order. Read without the blobs: a damaged proof only
 * fails the check against the input (exit 2), it can never make a changed input pass.
 */
export function readInputProofs(db: Database.Database, where: string): (InputProof | undefined)[] {
  return guarded(where, () =>
    (
      db.prepare('SELECT input_end, input_crc FROM batches ORDER BY first_seq').all() as {
        input_end: number | null;
        input_crc: number | null;
      }[]
    ).map((r) => (r.input_end === null || r.input_crc === null ? undefined : { end: r.input_end, crc: r.input_crc })),
  );
}

/** The records of input lines firstLine..lastLine (a resumed run checks its rows against them). */
export function readLines(
  db: Database.Database,
  where: string,
  firstLine: number,
  lastLine: number,
  units: StoredUnits,
): JournalRecord[] {
  const batches = guarded(where, () =>
    db
      .prepare(
        `SELECT * FROM batches WHERE first_line >= coalesce((SELECT max(first_line) FROM batches WHERE first_line <= ?), 0)
           AND first_line <= ? ORDER BY first_line`,
      )
      .all(firstLine, lastLine),
  ) as StoredBatch[];
  const records: JournalRecord[] = [];
  for (const batch of batches)
    for (const record of decodeRecords(batch, where, units.format.codec, units.seal))
      if (record.line >= firstLine && record.line <= lastLine) records.push(record);
  return records;
}

function finite(line: number): number {
  return Number.isFinite(line) ? line : Number.MAX_SAFE_INTEGER;
}
