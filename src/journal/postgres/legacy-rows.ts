/**
 * The row format of journals written before batches became the unit of storage (journal formats 1
 * and 2): one row of payments.records per record, in a leaf table per partition, each batch's
 * CRC-32 taken over its records' binary COPY tuples. Only `payments convert` reads it (convert.ts),
 * to rewrite such a journal as batches; nothing writes it any more.
 */
import { crc32 } from 'node:zlib';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { AccountEvent } from '../../domain/account.js';
import { JournalCorrupt } from '../../errors.js';
import type { JournalRecord } from '../../engine/journal-port.js';
import type { BatchInfo, PartitionRef } from './partition-read.js';

const eventKinds = ['Deposited', 'Withdrawn', 'DisputeOpened', 'DisputeResolved', 'ChargedBack'] as const;
const rejectedKind = 5;

/** The columns of payments.records, in table order (COPY uses the same list both ways). */
const recordColumns = 'journal, seq, line, tx, amount, client, partition, kind, type, reason';
const fieldCount = 10;
/** PGCOPY\n\377\r\n\0, flags, header extension length. */
const copySignature = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
const copyHeader = Buffer.concat([copySignature, Buffer.alloc(8)]);
const twoTo32 = 4294967296;

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

/** The leaf table of one partition of a row-format journal. */
export function legacyLeafTable(journalId: number, shard: number): string {
  return `payments.records_j${journalId}_p${shard}`;
}

/** The records of consecutive `batches` from leaf table `leaf`, checked batch by batch as they arrive. */
export async function fetchLegacyRecords(
  client: pg.Client,
  ref: PartitionRef,
  leaf: string,
  batches: readonly BatchInfo[],
): Promise<JournalRecord[]> {
  const items: JournalRecord[] = [];
  let index = 0;
  let inBatch = 0;
  let crc = 0;
  const first = batches[0]!.firstSeq;
  const lastBatch = batches[batches.length - 1]!;
  const last = lastBatch.firstSeq + lastBatch.count - 1;
  const decoder = new RecordDecoder(ref.where, (record, tuple) => {
    const batch = batches[index];
    if (batch === undefined) throw new JournalCorrupt(`${ref.where}: a record past seq ${last}`);
    const fail = (what: string) =>
      new JournalCorrupt(`${ref.where}: the batch at line ${batch.firstLine} (seq ${batch.firstSeq}) ${what}`);
    if (record.seq !== batch.firstSeq + inBatch) throw fail(`misses seq ${batch.firstSeq + inBatch}`);
    if (record.partition !== ref.shard) throw fail(`holds a record of partition ${record.partition}`);
    if (inBatch === 0 && record.line !== batch.firstLine) throw fail(`starts at line ${record.line}`);
    crc = crc32(tuple, crc);
    items.push(record);
    if (++inBatch === batch.count) {
      if (record.line !== batch.lastLine) throw fail(`ends at line ${record.line}, not ${batch.lastLine}`);
      if (crc !== batch.crc) throw fail('fails its checksum (a record was changed)');
      index++;
      inBatch = 0;
      crc = 0;
    }
  });
  const stream = client.query(
    copyStreams.to(
      `COPY (SELECT ${recordColumns} FROM ${leaf} WHERE seq BETWEEN ${first} AND ${last} ORDER BY seq) TO STDOUT (FORMAT binary)`,
    ),
  );
  for await (const chunk of stream) decoder.push(chunk as Buffer);
  if (index !== batches.length) {
    const batch = batches[index]!;
    throw new JournalCorrupt(
      `${ref.where}: the batch at line ${batch.firstLine} (seq ${batch.firstSeq}) has ${inBatch} records, not ${batch.count}`,
    );
  }
  return items;
}
