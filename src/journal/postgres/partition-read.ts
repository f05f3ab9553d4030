/** Reading a PostgreSQL journal partition back: its batches, its newest snapshot, its records (each batch checked). */
import type pg from 'pg';
import { pgReadWindowRecords } from '../../constants.js';
import type { InputProof } from '../../io/input-proof.js';
import { JournalCorrupt } from '../../errors.js';
import { shardOf } from '../../domain/ids.js';
import type { JournalRecord, RecoveredSnapshot, TxIndexPart } from '../../engine/journal-port.js';
import { decodeAccounts, decodeTxPart } from '../snapshot-codec.js';
import { decodeCheckedColumns, recordAt, storedBatchColumns, type StoredBatch } from '../record-codec.js';

/** The record kind of a rejection (record-codec.ts). */
const rejectedKind = 5;
import { postgresJournalFormatVersion, sealOfRow } from './store.js';
import { accountsChecksum, accountsFields, partChecksum } from './snapshot-write.js';
import { keyForJournal, PartitionSeal, type JournalKeyring, type JournalSealInfo } from '../seal.js';

export interface BatchInfo {
  firstLine: number;
  lastLine: number;
  firstSeq: number;
  count: number;
  events: number;
  crc: number;
  /** The input proof committed with the batch (io/input-proof.ts); undefined when it was given none. */
  proof: InputProof | undefined;
}

/** Which partition is read, and how errors name it. */
export interface PartitionRef {
  readonly journal: string;
  readonly shard: number;
  readonly where: string;
  /** The journal's shard count, when known: a snapshot's clients are checked to route here. */
  readonly shards?: number;
  /** Opens the partition's sealed units; undefined for a journal that is not sealed. */
  readonly seal?: PartitionSeal;
}

/** The journal's id and the partition's batches, checking the shard count. */
export async function readBatches(
  client: pg.Client,
  ref: PartitionRef,
  shards: number,
  /** For `payments convert` alone, which reads the row format. */
  legacy = false,
): Promise<{ id: number; batches: BatchInfo[]; seal: JournalSealInfo | undefined }> {
  // Every column: seal_id and seal_key_id exist from schema version 4 on (a reader may meet an older one).
  const journal = await client.query('SELECT * FROM payments.journals WHERE name = $1', [ref.journal]);
  if (journal.rows.length === 0) throw new JournalCorrupt(`${ref.where}: the journal does not exist`);
  // Every opener of a partition passes here (a run's workers, a cluster's shards, replay, inspect).
  if (!legacy && journal.rows[0].format_version < postgresJournalFormatVersion) throw legacyFormat(ref.where);
  if (journal.rows[0].shards !== shards)
    throw new JournalCorrupt(`${ref.where}: written with ${journal.rows[0].shards} shards, not ${shards}`);
  // The shard count is the journal row's word: batches or snapshots beyond it say it was edited.
  const beyond = await client.query(
    `SELECT (SELECT max(partition) FROM payments.batches WHERE journal = $1 AND partition >= $2) AS batch,
            (SELECT max(partition) FROM payments.snapshots WHERE journal = $1 AND partition >= $2) AS snapshot`,
    [ref.journal, shards],
  );
  const outside = beyond.rows[0].batch ?? beyond.rows[0].snapshot;
  if (outside !== null)
    throw new JournalCorrupt(
      `${ref.where}: the journal says ${shards} shards but holds partition ${outside} (its row edited, or damaged)`,
    );
  const batches = await client.query(
    'SELECT first_line, last_line, first_seq, count, events, crc, input_end, input_crc FROM payments.batches WHERE journal = $1 AND partition = $2 ORDER BY first_seq',
    [ref.journal, ref.shard],
  );
  return { id: journal.rows[0].id as number, batches: batches.rows.map(batchInfo), seal: sealOfRow(journal.rows[0]) };
}

function batchInfo(r: Record<string, unknown>): BatchInfo {
  return {
    firstLine: Number(r.first_line),
    lastLine: Number(r.last_line),
    firstSeq: Number(r.first_seq),
    count: r.count as number,
    events: r.events as number,
    crc: Number(r.crc),
    proof:
      r.input_end === null || r.input_crc === null ? undefined : { end: Number(r.input_end), crc: Number(r.input_crc) },
  };
}

/** The last sequence number of `batches`, checking that their sequence numbers have no gap. */
export function checkedLastSeq(batches: readonly BatchInfo[], where: string): number {
  let seq = 0;
  for (const batch of batches) {
    if (batch.firstSeq !== seq + 1)
      throw new JournalCorrupt(
        `${where}: sequence numbers have a gap or overlap (batch at seq ${batch.firstSeq} after seq ${seq})`,
      );
    seq += batch.count;
  }
  return seq;
}

/** The newest snapshot taken at or before input line `asOfLine`, its checksums checked (a layered one read over its base). */
export async function readSnapshot(
  client: pg.Client,
  ref: PartitionRef,
  asOfLine: number,
  txIndex = true,
): Promise<RecoveredSnapshot | undefined> {
  const found = await client.query(
    // A recovery needs the index: an accounts-only snapshot (snapshot-write.ts) is skipped.
    `SELECT seq, line, events, accounts, crc, tx_parts, base_seq FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND line <= $3${txIndex ? ' AND tx_parts >= 0' : ''} ORDER BY seq DESC LIMIT 1`,
    [ref.journal, ref.shard, Number.isFinite(asOfLine) ? asOfLine : Number.MAX_SAFE_INTEGER],
  );
  const row = found.rows[0];
  if (row === undefined) return undefined;
  const { seq, line, events, accounts, parts } = openSnapshotRow(ref, row);
  const baseSeq = row.base_seq === null ? seq : Number(row.base_seq);
  if (baseSeq === seq)
    // Replaying accounts needs no transaction index: most of a snapshot's bytes, left unread.
    return { seq, line, events, accounts, txParts: txIndex ? await readTxParts(client, ref, seq, parts) : [], baseSeq };
  const unit = `${ref.where}: the snapshot at seq ${seq}`;
  const base = await client.query(
    'SELECT seq, line, events, accounts, crc, tx_parts, base_seq FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND seq = $3',
    [ref.journal, ref.shard, baseSeq],
  );
  // A layered snapshot without its base is damage, even to a reader that needs its accounts alone.
  if (base.rows[0] === undefined || base.rows[0].base_seq !== null || !(baseSeq < seq) || base.rows[0].tx_parts < 0)
    throw new JournalCorrupt(`${unit} is layered on a full snapshot at seq ${baseSeq} that the journal does not hold`);
  const baseParts = openSnapshotRow(ref, base.rows[0]).parts;
  if (!txIndex) return { seq, line, events, accounts, txParts: [] };
  const txParts = await readTxParts(client, ref, baseSeq, baseParts);
  const txDelta = await readTxParts(client, ref, seq, parts, true);
  return { seq, line, events, accounts, txParts, baseSeq, txDelta };
}

/** A snapshot row's accounts, checked (and opened when sealed). */
function openSnapshotRow(ref: PartitionRef, row: Record<string, unknown>) {
  const seq = Number(row.seq);
  const unit = `${ref.where}: the snapshot at seq ${seq}`;
  const baseSeq = row.base_seq === null ? null : Number(row.base_seq);
  const stored = row.accounts as Buffer;
  const line = Number(row.line);
  const events = Number(row.events);
  const parts = row.tx_parts as number;
  const fields = accountsFields(seq, line, events, parts, baseSeq);
  if (accountsChecksum(stored, fields) !== Number(row.crc)) throw new JournalCorrupt(`${unit} fails its checksum`);
  const accounts = decodeAccounts(ref.seal ? ref.seal.open('accounts', stored, fields, unit) : stored);
  // Each client is routed to one partition by the shard count: one found elsewhere says the journal's
  // shard count is not the one it was written with.
  const stray =
    ref.shards === undefined ? undefined : accounts.find((a) => shardOf(a.client, ref.shards!) !== ref.shard);
  if (stray !== undefined)
    throw new JournalCorrupt(
      `${unit} holds client ${stray.client}, which ${ref.shards} shards route to partition ${shardOf(stray.client, ref.shards!)}: the journal's shard count is not the one it was written with (its row edited, or damaged)`,
    );
  return { seq, line, events, accounts, parts };
}

/** The index parts stored with the snapshot at `seq`, each checked. */
async function readTxParts(
  client: pg.Client,
  ref: PartitionRef,
  seq: number,
  count: number,
  layered = false,
): Promise<TxIndexPart[]> {
  const unit = `${ref.where}: the snapshot at seq ${seq}`;
  const parts = await client.query(
    'SELECT part, data, crc FROM payments.snapshot_parts WHERE journal = $1 AND partition = $2 AND seq = $3 ORDER BY part',
    [ref.journal, ref.shard, seq],
  );
  if (parts.rows.length !== count) throw new JournalCorrupt(`${unit} fails its checksum`);
  return parts.rows.map((part, i) => {
    if (part.part !== i || partChecksum(part.data, seq, i, layered) !== Number(part.crc))
      throw new JournalCorrupt(`${unit} fails its checksum`);
    return decodeTxPart(
      ref.seal ? ref.seal.open('txPart', part.data, [seq, i], `${unit} (index part ${i})`) : part.data,
    );
  });
}

/** A snapshot must end where a batch ends, with the events the batches count up to there. */
export function checkSnapshot(batches: readonly BatchInfo[], snapshot: RecoveredSnapshot, where: string): void {
  let events = 0;
  for (const batch of batches) {
    events += batch.events;
    if (batch.firstSeq + batch.count - 1 === snapshot.seq) {
      if (batch.lastLine === snapshot.line && events === snapshot.events) return;
      break;
    }
  }
  throw new JournalCorrupt(`${where}: the snapshot at seq ${snapshot.seq} does not match the batches`);
}

/** The end of the read window starting at batch `from`: whole batches, about pgReadWindowRecords records. */
export function windowEnd(batches: readonly BatchInfo[], from: number): number {
  let to = from + 1;
  let records = batches[from]!.count;
  while (to < batches.length && records + batches[to]!.count <= pgReadWindowRecords) records += batches[to++]!.count;
  return to;
}

export function firstBatchEndingAtOrAfter(batches: readonly BatchInfo[], line: number): number {
  let lo = 0;
  let hi = batches.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (batches[mid]!.lastLine < line) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The records of consecutive `batches`, read in one query and each batch checked whole before use. */
export async function fetchRecords(
  client: pg.Client,
  ref: PartitionRef,
  batches: readonly BatchInfo[],
): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for (const { firstSeq, columns, count } of await fetchColumns(client, ref, batches))
    for (let i = 0; i < count; i++) records.push(recordAt(columns, i, firstSeq));
  return records;
}

/** As fetchRecords, as each batch's checked columns (no object per record). */
export async function fetchColumns(
  client: pg.Client,
  ref: PartitionRef,
  batches: readonly BatchInfo[],
): Promise<CheckedBatch[]> {
  const first = batches[0]!.firstSeq;
  const last = batches[batches.length - 1]!.firstSeq;
  const found = await client.query({
    text: `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND partition = $2 AND first_seq BETWEEN $3 AND $4 ORDER BY first_seq`,
    values: [ref.journal, ref.shard, first, last],
  });
  const checked: CheckedBatch[] = [];
  batches.forEach((batch, i) => {
    const row = found.rows[i];
    const stored = row === undefined ? undefined : storedBatch(row);
    if (stored === undefined || stored.first_seq !== batch.firstSeq || stored.crc !== batch.crc)
      throw new JournalCorrupt(
        `${ref.where}: the batch at line ${batch.firstLine} (seq ${batch.firstSeq}) changed while it was read`,
      );
    if (stored.data === null) throw legacyFormat(ref.where);
    const columns = decodeCheckedColumns(stored as StoredBatch, ref.where, 'compact', ref.seal);
    checked.push({ firstSeq: batch.firstSeq, count: batch.count, columns });
  });
  return checked;
}

export interface CheckedBatch {
  readonly firstSeq: number;
  readonly count: number;
  readonly columns: ReturnType<typeof decodeCheckedColumns>;
}

/** The columns of a stored batch, as StoredBatch (record-codec.ts) names them. */
export const storedColumns = storedBatchColumns;

/** A row of payments.batches as the codec checks it (int8 columns arrive as text). */
export function storedBatch(r: Record<string, unknown>): Omit<StoredBatch, 'data'> & { data: Buffer | null } {
  return {
    first_line: Number(r.first_line),
    last_line: Number(r.last_line),
    first_seq: Number(r.first_seq),
    count: r.count as number,
    events: r.events as number,
    data: r.data as Buffer | null,
    crc: Number(r.crc),
    input_end: r.input_end === null ? null : Number(r.input_end),
    input_crc: r.input_crc === null ? null : Number(r.input_crc),
  };
}

/** A batch without data belongs to a journal in the row format, which only `payments convert` reads. */
export function legacyFormat(where: string): JournalCorrupt {
  return new JournalCorrupt(
    `${where}: stored in the row format of an older version (one row a record); convert it first: payments convert --journal URL`,
  );
}

/**
 * Every rejected record of a journal's batches, as line → reason code, each batch checked. `keys`
 * open a sealed journal (none given: a sealed journal is exit 2 naming its key id).
 */
export async function readRejectedLines(
  client: pg.Client,
  journal: string,
  where: string,
  keys: JournalKeyring = [],
): Promise<Map<number, number>> {
  const rejected = new Map<number, number>();
  const found = await client.query('SELECT * FROM payments.journals WHERE name = $1', [journal]);
  const seal = found.rows[0] === undefined ? undefined : sealOfRow(found.rows[0]);
  const key = seal && keyForJournal(where, seal, keys);
  const partitions = await client.query('SELECT DISTINCT partition FROM payments.batches WHERE journal = $1', [
    journal,
  ]);
  for (const { partition } of partitions.rows as { partition: number }[]) {
    const found = await client.query(
      `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND partition = $2 ORDER BY first_seq`,
      [journal, partition],
    );
    const at = `${where} partition ${partition}`;
    for (const row of found.rows) {
      const stored = storedBatch(row);
      if (stored.data === null) throw legacyFormat(at);
      const partitionSeal = seal && key && new PartitionSeal(seal, partition, key, keys);
      const c = decodeCheckedColumns(stored as StoredBatch, at, 'compact', partitionSeal);
      for (let i = 0; i < stored.count; i++) if (c.kinds[i] === rejectedKind) rejected.set(c.lines[i]!, c.reasons[i]!);
    }
  }
  return rejected;
}
