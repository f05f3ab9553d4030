/**
 * Records as PostgreSQL binary COPY tuples, written straight into one growing buffer as the engine
 * records them (no object per record), and read back from `COPY ... TO STDOUT (FORMAT binary)`.
 *
 * The encoding of a record is fixed (the same columns, the same widths), so the bytes read back are
 * the bytes written: a batch's CRC-32 is taken over its tuples when written and checked over the
 * same tuples when read, and any row changed, added or removed by hand is caught.
 */
import { crc32 } from 'node:zlib';
import type { AccountEvent } from '../../domain/account.js';
import { JournalCorrupt } from '../../errors.js';
import type { JournalRecord, RowRef } from '../../engine/journal-port.js';

const eventKinds = ['Deposited', 'Withdrawn', 'DisputeOpened', 'DisputeResolved', 'ChargedBack'] as const;
const rejectedKind = 5;

/** The columns of payments.records, in table order (COPY uses the same list both ways). */
export const recordColumns = 'journal, seq, line, tx, amount, client, partition, kind, type, reason';
const fieldCount = 10;
/** PGCOPY\n\377\r\n\0, flags, header extension length. */
const copySignature = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
const copyHeader = Buffer.concat([copySignature, Buffer.alloc(8)]);
const copyTrailer = Buffer.from([0xff, 0xff]);
const twoTo32 = 4294967296;

export interface EncodedBatch {
  /** Header, tuples and trailer: what COPY FROM STDIN receives. */
  readonly copy: Buffer;
  readonly crc: number;
  readonly count: number;
  readonly events: number;
  readonly firstLine: number;
  readonly lastLine: number;
  readonly firstSeq: number;
}

/** Builds one batch at a time for one partition; `take` hands it over and starts the next. */
export class RecordEncoder {
  private buffer = Buffer.alloc(1 << 16);
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  private at = copyHeader.length;
  private readonly journalBytes: Buffer;
  private readonly tupleBytesMax: number;
  count = 0;
  events = 0;
  private firstLine = 0;
  private lastLine = 0;

  constructor(
    journal: string,
    private readonly partition: number,
    /** The sequence number the next record gets. */
    private nextSeq: number,
  ) {
    this.journalBytes = Buffer.from(journal, 'utf8');
    this.tupleBytesMax = 2 + 4 + this.journalBytes.length + 4 * 12 + 8 + 4 * 6;
    copyHeader.copy(this.buffer, 0);
  }

  get seq(): number {
    return this.nextSeq - 1;
  }

  addEvent(event: AccountEvent, row: RowRef): void {
    this.push(eventKinds.indexOf(event.type), event.amount, -1, row);
    this.events++;
  }

  addRejection(reason: number, row: RowRef): void {
    this.push(rejectedKind, row.amount, reason, row);
  }

  private push(kind: number, amount: number, reason: number, row: RowRef): void {
    if (this.at + this.tupleBytesMax + copyTrailer.length > this.buffer.length) this.grow();
    if (this.count === 0) this.firstLine = row.line;
    this.lastLine = row.line;
    // DataView stores are compiled inline by V8; Buffer's writeInt32BE is several times slower here.
    const v = this.view;
    let at = this.at;
    v.setInt16(at, fieldCount);
    v.setInt32(at + 2, this.journalBytes.length);
    this.buffer.set(this.journalBytes, at + 6);
    at += 6 + this.journalBytes.length;
    at = int8(v, at, this.nextSeq++);
    at = int8(v, at, row.line);
    at = int8(v, at, row.tx);
    at = int8(v, at, amount);
    v.setInt32(at, 4);
    v.setInt32(at + 4, row.client);
    at = int2(v, at + 8, this.partition);
    at = int2(v, at, kind);
    at = int2(v, at, row.typeCode);
    if (reason < 0) {
      v.setInt32(at, -1);
      at += 4;
    } else at = int2(v, at, reason);
    this.at = at;
    this.count++;
  }

  take(): EncodedBatch {
    const tuplesEnd = this.at;
    copyTrailer.copy(this.buffer, tuplesEnd);
    const copy = Buffer.from(this.buffer.subarray(0, tuplesEnd + copyTrailer.length));
    const batch: EncodedBatch = {
      copy,
      crc: crc32(copy.subarray(copyHeader.length, tuplesEnd)),
      count: this.count,
      events: this.events,
      firstLine: this.firstLine,
      lastLine: this.lastLine,
      firstSeq: this.nextSeq - this.count,
    };
    this.at = copyHeader.length;
    this.count = 0;
    this.events = 0;
    return batch;
  }

  /** Forgets the records since the last take (a failed commit's, which never became durable). */
  discard(): void {
    this.nextSeq -= this.count;
    this.at = copyHeader.length;
    this.count = 0;
    this.events = 0;
  }

  private grow(): void {
    const next = Buffer.alloc(this.buffer.length * 2);
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

function int8(v: DataView, at: number, value: number): number {
  // Values are whole numbers in 0..2^53: two 32-bit halves, no BigInt.
  v.setInt32(at, 8);
  v.setUint32(at + 4, Math.floor(value / twoTo32));
  v.setUint32(at + 8, value >>> 0);
  return at + 12;
}

function int2(v: DataView, at: number, value: number): number {
  v.setInt32(at, 2);
  v.setInt16(at + 4, value);
  return at + 6;
}

/** A decoded record, with the bytes of its tuple for the batch checksum. */
export interface DecodedRecord extends JournalRecord {
  readonly kind: number;
  readonly partition: number;
}

/**
 * Decodes `COPY (SELECT <recordColumns> ...) TO STDOUT (FORMAT binary)` chunk by chunk; a tuple
 * split across chunks is carried over. `onTuple` gets each record and its tuple's bytes.
 */
export class RecordDecoder {
  private carry: Buffer | undefined;
  private headerSeen = false;
  ended = false;

  constructor(
    private readonly where: string,
    private readonly onTuple: (record: DecodedRecord, tuple: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    const b = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let at = 0;
    if (!this.headerSeen) {
      if (b.length < copyHeader.length) {
        this.carry = b;
        return;
      }
      if (!b.subarray(0, copySignature.length).equals(copySignature)) throw this.damaged('not a binary COPY stream');
      at = copySignature.length + 4;
      at += 4 + b.readInt32BE(at); // header extension
      this.headerSeen = true;
    }
    while (at + 2 <= b.length) {
      const fields = b.readInt16BE(at);
      if (fields === -1) {
        this.ended = true;
        return;
      }
      if (fields !== fieldCount) throw this.damaged(`a record has ${fields} columns`);
      const end = tupleEnd(b, at, fields);
      if (end < 0) break;
      this.onTuple(this.decode(b, at), b.subarray(at, end));
      at = end;
    }
    if (at < b.length) this.carry = Buffer.from(b.subarray(at));
  }

  private decode(b: Buffer, start: number): DecodedRecord {
    let at = start + 2;
    const journalLength = b.readInt32BE(at);
    at += 4 + journalLength;
    const seq = readInt8(b, at);
    const line = readInt8(b, at + 12);
    const tx = readInt8(b, at + 24);
    const amount = readInt8(b, at + 36);
    at += 48;
    const client = b.readInt32BE(at + 4);
    at += 8;
    const partition = b.readInt16BE(at + 4);
    const kind = b.readInt16BE(at + 10);
    const typeCode = b.readInt16BE(at + 16);
    at += 18;
    const reasonLength = b.readInt32BE(at);
    const reason = reasonLength < 0 ? -1 : b.readInt16BE(at + 4);
    if (kind < 0 || kind > rejectedKind || (kind === rejectedKind) !== reason >= 0)
      throw this.damaged(`the record at seq ${seq} has kind ${kind} and reason ${reason}`);
    const event = kind === rejectedKind ? undefined : ({ type: eventKinds[kind]!, client, tx, amount } as AccountEvent);
    return {
      seq,
      line,
      typeCode,
      client,
      tx,
      amount: typeCode <= 1 ? amount : 0, // disputes carry no amount of their own
      event,
      reason,
      kind,
      partition,
    };
  }

  private damaged(what: string): JournalCorrupt {
    return new JournalCorrupt(`${this.where}: damaged record data (${what})`);
  }
}

function readInt8(b: Buffer, at: number): number {
  // at points at the field's length word
  return b.readUInt32BE(at + 4) * twoTo32 + b.readUInt32BE(at + 8);
}

/** Where the tuple starting at `at` ends, or -1 when the buffer does not hold all of it. */
function tupleEnd(b: Buffer, at: number, fields: number): number {
  let p = at + 2;
  for (let i = 0; i < fields; i++) {
    if (p + 4 > b.length) return -1;
    const length = b.readInt32BE(p);
    p += 4 + Math.max(0, length);
    if (p > b.length) return -1;
  }
  return p;
}
