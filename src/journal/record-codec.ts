/**
 * A journal batch: the records of one engine batch as recordLayout columns (src/layout.ts) in one
 * blob, stored as one row whose checksum covers the blob and every field of the row (lines, first
 * sequence number, counts), so a damaged or edited batch is detected when read.
 *
 * A record answers one input row: kind 0-4 is the accepted event (Deposited, Withdrawn,
 * DisputeOpened, DisputeResolved, ChargedBack), kind 5 a rejection with its reason. Records carry
 * the row's line, type, client, tx and amount, so a resumed run can check the input still matches.
 */
import { crc32 } from 'node:zlib';
import type { AccountEvent } from '../domain/account.js';
import { carriesAmount } from '../domain/transaction.js';
import { JournalCorrupt } from '../errors.js';
import { recordLayout, type Columns } from '../layout.js';
import type { JournalRecord, RowRef } from '../engine/journal-port.js';
import type { InputProof } from '../io/input-proof.js';
import { CompactCodecError, decodeCompact, encodeCompact } from './compact-codec.js';
import type { PartitionSeal } from './seal.js';

/**
 * How a batch's blob holds its records: as recordLayout columns (the SQLite journal: 25 bytes a
 * record, copied, never transformed), or compact (compact-codec.ts, the PostgreSQL journal: about
 * 9 bytes a record, which keeps the server's writes and storage small).
 */
export type BatchCodec = 'columns' | 'compact';

type RecordColumns = Columns<typeof recordLayout.spec>;

const eventKinds = ['Deposited', 'Withdrawn', 'DisputeOpened', 'DisputeResolved', 'ChargedBack'] as const;
const rejectedKind = 5;
const acceptedReason = 255;

/** A batch row as stored: every field the checksum covers. */
export interface StoredBatch {
  readonly first_line: number;
  readonly last_line: number;
  readonly first_seq: number;
  readonly count: number;
  readonly events: number;
  readonly data: Uint8Array;
  /** The input proof committed with the batch (io/input-proof.ts); null when it was given none. */
  readonly input_end: number | null;
  readonly input_crc: number | null;
  readonly crc: number;
}

/** A batch row's columns, in the order of storedBatchValues: both backends store a batch by them. */
export const storedBatchColumns = 'first_line, last_line, first_seq, count, events, data, crc, input_end, input_crc';

/** A batch row's values, in the order of storedBatchColumns. */
export function storedBatchValues(b: StoredBatch): (number | Uint8Array | null)[] {
  return [b.first_line, b.last_line, b.first_seq, b.count, b.events, b.data, b.crc, b.input_end, b.input_crc];
}

/** The checksum of a batch row: its blob, then its numeric fields. */
export function batchChecksum(b: Omit<StoredBatch, 'crc'>): number {
  return crc32(
    new Uint8Array(
      Float64Array.of(b.first_line, b.last_line, b.first_seq, b.count, b.events, b.input_end ?? -1, b.input_crc ?? -1)
        .buffer,
    ),
    crc32(b.data),
  );
}

/** The fields a sealed batch's associated data binds it to (seal.ts): those its checksum covers. */
export function batchSealFields(b: Omit<StoredBatch, 'crc' | 'data'>): number[] {
  return [b.first_line, b.last_line, b.first_seq, b.count, b.events, b.input_end ?? -1, b.input_crc ?? -1];
}

/** Collects a batch's records in reusable typed-array columns (no object or array per record). */
export class RecordBatchBuilder {
  private capacity = 0;
  private cols = recordLayout.views(new ArrayBuffer(0), 0);
  count = 0;
  events = 0;

  addEvent(event: AccountEvent, row: RowRef): void {
    this.addCodes(eventKinds.indexOf(event.type), -1, row.line, row.typeCode, row.client, row.tx, event.amount);
  }

  addRejection(reason: number, row: RowRef): void {
    this.addCodes(-1, reason, row.line, row.typeCode, row.client, row.tx, row.amount);
  }

  /** JournalPartition.recordCodes: an event's code (and the amount it moved), or -1 and a rejection's reason. */
  addCodes(
    eventCode: number,
    reason: number,
    line: number,
    typeCode: number,
    client: number,
    tx: number,
    amount: number,
  ): void {
    if (this.count === this.capacity) this.grow();
    const i = this.count++;
    const c = this.cols;
    c.lines[i] = line;
    c.amounts[i] = amount;
    c.txs[i] = tx;
    c.clients[i] = client;
    c.types[i] = typeCode;
    if (eventCode >= 0) {
      c.kinds[i] = eventCode;
      c.reasons[i] = acceptedReason;
      this.events++;
    } else {
      c.kinds[i] = rejectedKind;
      c.reasons[i] = reason;
    }
  }

  /** The batch row to store, numbered from `firstSeq`, with its input proof; the builder starts afresh. */
  take(
    firstSeq: number,
    proof: InputProof | undefined,
    codec: BatchCodec = 'columns',
    seal?: PartitionSeal,
  ): StoredBatch {
    const n = this.count;
    const plain = codec === 'compact' ? encodeCompact(this.cols, n, this.cols.lines[0]!) : this.columnsBlob(n);
    const fields = {
      first_line: this.cols.lines[0]!,
      last_line: this.cols.lines[n - 1]!,
      first_seq: firstSeq,
      count: n,
      events: this.events,
      input_end: proof?.end ?? null,
      input_crc: proof?.crc ?? null,
    };
    // The checksum covers the stored (sealed) bytes: damage is found without the key.
    const data = seal === undefined ? plain : seal.seal('batch', plain, batchSealFields(fields));
    const row = { ...fields, data };
    this.count = 0;
    this.events = 0;
    return { ...row, crc: batchChecksum(row) };
  }

  /** Discards the records not taken (a run that stops). */
  discard(): void {
    this.count = 0;
    this.events = 0;
  }

  private columnsBlob(n: number): Buffer {
    const { data, columns } = recordLayout.allocate(n);
    for (const name of Object.keys(columns) as (keyof typeof columns)[])
      columns[name].set(this.cols[name].subarray(0, n) as never);
    return data;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const next = recordLayout.views(new ArrayBuffer(recordLayout.bytes(capacity)), capacity);
    for (const name of Object.keys(next) as (keyof typeof next)[]) next[name].set(this.cols[name] as never);
    this.cols = next;
    this.capacity = capacity;
  }
}

/**
 * A stored batch's records as recordLayout columns, checked whole: its checksum, size, kinds, lines
 * (rising from first_line to last_line) and event count; JournalCorrupt otherwise. For readers that
 * want a few records of many (inspect --client) without an object per record.
 */
export function decodeCheckedColumns(
  batch: StoredBatch,
  where: string,
  codec: BatchCodec = 'columns',
  seal?: PartitionSeal,
): RecordColumns {
  const unit = `${where}: the journal batch at seq ${batch.first_seq} (lines ${batch.first_line}-${batch.last_line})`;
  const damaged = (what: string) => new JournalCorrupt(`${unit} ${what} (damaged or edited)`);
  if (batchChecksum(batch) !== batch.crc) throw damaged('fails its checksum');
  const plain =
    seal === undefined ? batch : { ...batch, data: seal.open('batch', batch.data, batchSealFields(batch), unit) };
  const c = decodeColumns(plain, codec, damaged);
  let events = 0;
  let line = -1;
  for (let i = 0; i < batch.count; i++) {
    const kind = c.kinds[i]!;
    if (kind < rejectedKind) events++;
    else if (kind !== rejectedKind) throw damaged(`has an unknown record kind ${kind}`);
    if (!(c.lines[i]! > line)) throw damaged('has lines out of order');
    line = c.lines[i]!;
  }
  if (batch.count > 0 && (c.lines[0] !== batch.first_line || line !== batch.last_line))
    throw damaged('does not span the lines it claims');
  if (events !== batch.events) throw damaged(`holds ${events} events, not ${batch.events}`);
  return c;
}

/** Record `i` of checked columns, as the engine reads it back. */
export function recordAt(c: RecordColumns, i: number, firstSeq: number): JournalRecord {
  const type = eventKinds[c.kinds[i]!];
  const typeCode = c.types[i]!;
  const client = c.clients[i]!;
  const tx = c.txs[i]!;
  // One literal of one shape per record (a spread of a second object cost a resumed run more
  // than its own rows did, measured).
  return {
    seq: firstSeq + i,
    line: c.lines[i]!,
    typeCode,
    client,
    tx,
    amount: carriesAmount(typeCode) ? c.amounts[i]! : 0, // disputes carry no amount of their own
    event: type === undefined ? undefined : { type, client, tx, amount: c.amounts[i]! },
    reason: type === undefined ? c.reasons[i]! : -1,
  };
}

/** Decodes a stored batch, checked whole (decodeCheckedColumns), into records. */
export function decodeRecords(
  batch: StoredBatch,
  where: string,
  codec: BatchCodec = 'columns',
  seal?: PartitionSeal,
): JournalRecord[] {
  const c = decodeCheckedColumns(batch, where, codec, seal);
  const records: JournalRecord[] = new Array(batch.count);
  for (let i = 0; i < batch.count; i++) records[i] = recordAt(c, i, batch.first_seq);
  return records;
}

function decodeColumns(
  batch: StoredBatch,
  codec: BatchCodec,
  damaged: (what: string) => JournalCorrupt,
): RecordColumns {
  if (codec === 'columns') {
    if (batch.data.byteLength !== recordLayout.bytes(batch.count))
      throw damaged(`does not decode (${batch.data.byteLength} bytes are not ${batch.count} records of columns)`);
    return recordLayout.decode(batch.data).columns;
  }
  try {
    return decodeCompact(batch.data, batch.count, batch.first_line);
  } catch (error) {
    if (error instanceof CompactCodecError) throw damaged(`does not decode (${error.message})`);
    throw error;
  }
}

/** A record's amount as the inspect listing shows it: the event's, or the rejected row's. */
export function shownAmount(record: JournalRecord): number | undefined {
  if (record.event) return record.event.amount;
  return carriesAmount(record.typeCode) ? record.amount : undefined;
}
