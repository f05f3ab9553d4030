/**
 * The compact encoding of a batch's records (recordLayout columns, src/layout.ts), as the
 * PostgreSQL journal stores them: about 9 bytes a record instead of the columns' 25.
 *
 * Records are written one after the other, each as:
 *   head    1 byte: an accepted record's kind × 5 + type (0-24), or a rejection's
 *           25 + reason × 5 + type (25-99)
 *   line    varint: the line minus the previous record's (the first: minus the batch's first line)
 *   client  varint
 *   tx      varint of the zigzag of the tx minus the previous record's tx (deposits come in
 *           rising order, so most take one or two bytes)
 *   amount  varint (minor units)
 * A varint is 7 bits a byte, least significant group first, the high bit set on every byte but the
 * last; values up to 2^53 (safe integers). Nothing else is stored: the batch row keeps the count
 * and first line, and its checksum covers these bytes (record-codec.ts).
 *
 * The format is small enough to decode in SQL: payments.batch_records (postgres/schema.ts) does it
 * for auditors, and a test keeps the two decoders in agreement.
 */
import { recordLayout, type Columns } from '../layout.js';

type RecordColumns = Columns<typeof recordLayout.spec>;

const typesCount = 5;
const kindsCount = 5;
const rejectedKind = 5;
const acceptedReason = 255;
const reasonsMax = 14;
const rejectedBase = kindsCount * typesCount;
/** head, then four varints of at most 8 bytes (2^53 needs 8 groups of 7 bits). */
const recordBytesMax = 1 + 4 * 8;
const recordBytesMin = 1 + 4;
const twoTo31 = 2147483648;

/** Thrown on bytes that are not a batch of `count` records (the caller names the batch). */
export class CompactCodecError extends Error {}

export function encodeCompact(c: RecordColumns, count: number, firstLine: number): Buffer {
  let out: Buffer = Buffer.allocUnsafe(Math.max(64, count * 12));
  let at = 0;
  let line = firstLine;
  let tx = 0;
  for (let i = 0; i < count; i++) {
    if (out.length - at < recordBytesMax) out = grow(out, at, count - i);
    const kind = c.kinds[i]!;
    const type = c.types[i]!;
    const reason = c.reasons[i]!;
    if (type >= typesCount) throw new Error(`invariant: record type ${type}`);
    if (kind === rejectedKind) {
      if (reason > reasonsMax) throw new Error(`invariant: rejection reason ${reason}`);
      out[at++] = rejectedBase + reason * typesCount + type;
    } else {
      if (kind >= kindsCount || reason !== acceptedReason) throw new Error(`invariant: record kind ${kind}`);
      out[at++] = kind * typesCount + type;
    }
    const lineDelta = c.lines[i]! - line;
    line = c.lines[i]!;
    if (lineDelta < 0 || (i > 0 && lineDelta === 0)) throw new Error('invariant: record lines must rise');
    at = writeVarint(out, at, lineDelta);
    at = writeVarint(out, at, c.clients[i]!);
    const txDelta = c.txs[i]! - tx;
    tx = c.txs[i]!;
    at = writeVarint(out, at, txDelta >= 0 ? txDelta * 2 : -txDelta * 2 - 1);
    const amount = c.amounts[i]!;
    if (!(amount >= 0 && Number.isSafeInteger(amount))) throw new Error(`invariant: record amount ${amount}`);
    at = writeVarint(out, at, amount);
  }
  return out.subarray(0, at);
}

/** Decodes `count` records into fresh recordLayout columns; throws CompactCodecError on any misfit. */
export function decodeCompact(data: Uint8Array, count: number, firstLine: number): RecordColumns {
  // Every record takes at least 5 bytes: a forged count is refused before anything is allocated.
  if (!(Number.isSafeInteger(count) && count >= 0 && count * recordBytesMin <= data.length))
    throw new CompactCodecError(`${data.length} bytes cannot hold ${count} records`);
  const c = recordLayout.views(new ArrayBuffer(recordLayout.bytes(count)), count);
  const reader = new VarintReader(data);
  let line = firstLine;
  let tx = 0;
  for (let i = 0; i < count; i++) {
    const head = reader.byte();
    if (head < rejectedBase) {
      c.kinds[i] = (head / typesCount) | 0;
      c.reasons[i] = acceptedReason;
    } else {
      const reason = ((head - rejectedBase) / typesCount) | 0;
      if (reason > reasonsMax) throw new CompactCodecError(`record ${i} has an unknown head byte ${head}`);
      c.kinds[i] = rejectedKind;
      c.reasons[i] = reason;
    }
    c.types[i] = head % typesCount;
    line += reader.varint();
    c.lines[i] = line;
    const client = reader.varint();
    if (client > 0xffff) throw new CompactCodecError(`record ${i} has client ${client}`);
    c.clients[i] = client;
    const zigzag = reader.varint();
    tx += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
    if (!(tx >= 0 && tx <= 0xffffffff)) throw new CompactCodecError(`record ${i} has tx ${tx}`);
    c.txs[i] = tx;
    c.amounts[i] = reader.varint();
  }
  if (reader.at !== data.length)
    throw new CompactCodecError(`${data.length - reader.at} bytes follow the last of ${count} records`);
  return c;
}

function grow(out: Buffer, used: number, recordsLeft: number): Buffer {
  const next = Buffer.allocUnsafe(out.length * 2 + recordsLeft * recordBytesMax);
  out.copy(next, 0, 0, used);
  return next;
}

/** Writes a safe non-negative integer; the 31-bit fast path covers nearly every value. */
function writeVarint(out: Buffer, at: number, value: number): number {
  if (value < twoTo31) {
    let v = value;
    while (v >= 0x80) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
    return at;
  }
  let v = value;
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

class VarintReader {
  at = 0;

  constructor(private readonly data: Uint8Array) {}

  byte(): number {
    if (this.at >= this.data.length) throw new CompactCodecError('the records end early');
    return this.data[this.at++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let groups = 0; groups < 8; groups++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw new CompactCodecError('a number is too long');
  }
}
