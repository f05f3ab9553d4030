/**
 * A journal batch: the records of one engine batch, encoded as columns in one buffer (25 bytes a
 * record) and stored as one row with a CRC-32, so a batch is written with one INSERT and a damaged
 * one is detected when read.
 *
 * A record answers one input row: kind 0-4 is the accepted event (Deposited, Withdrawn,
 * DisputeOpened, DisputeResolved, ChargedBack), kind 5 a rejection with its reason. Records carry
 * the row's line, type, client, tx and amount, so a resumed run can check the input still matches.
 */
import { crc32 } from 'node:zlib';
import type { AccountEvent } from '../domain/account.js';
import type { RowRef } from './journal.js';

export const eventKinds = ['Deposited', 'Withdrawn', 'DisputeOpened', 'DisputeResolved', 'ChargedBack'] as const;
export const rejectedKind = 5;
const recordBytes = 8 + 8 + 4 + 2 + 1 + 1 + 1;

export interface JournalRecord extends RowRef {
  readonly kind: number;
  /** The event's amount (for disputes, the disputed deposit's), or the row's amount when rejected. */
  readonly eventAmount: number;
  readonly reason: number; // -1 when accepted
}

export class RecordBatchBuilder {
  private lines: number[] = [];
  private amounts: number[] = [];
  private txs: number[] = [];
  private clients: number[] = [];
  private kinds: number[] = [];
  private types: number[] = [];
  private reasons: number[] = [];
  events = 0;

  get count(): number {
    return this.lines.length;
  }

  get firstLine(): number {
    return this.lines[0]!;
  }

  get lastLine(): number {
    return this.lines[this.lines.length - 1]!;
  }

  addEvent(event: AccountEvent, row: RowRef): void {
    this.push(eventKinds.indexOf(event.type), event.amount, 255, row);
    this.events++;
  }

  addRejection(reason: number, row: RowRef): void {
    this.push(rejectedKind, row.amount, reason, row);
  }

  private push(kind: number, amount: number, reason: number, row: RowRef): void {
    this.lines.push(row.line);
    this.amounts.push(amount);
    this.txs.push(row.tx);
    this.clients.push(row.client);
    this.kinds.push(kind);
    this.types.push(row.typeCode);
    this.reasons.push(reason);
  }

  /** The encoded batch and its checksum; the builder starts afresh. */
  take(): { data: Buffer; crc: number; count: number; events: number; firstLine: number; lastLine: number } {
    const n = this.count;
    const data = Buffer.alloc(n * recordBytes);
    const buffer = data.buffer;
    const base = data.byteOffset;
    new Float64Array(buffer, base, n).set(this.lines);
    new Float64Array(buffer, base + 8 * n, n).set(this.amounts);
    new Uint32Array(buffer, base + 16 * n, n).set(this.txs);
    new Uint16Array(buffer, base + 20 * n, n).set(this.clients);
    new Uint8Array(buffer, base + 22 * n, n).set(this.kinds);
    new Uint8Array(buffer, base + 23 * n, n).set(this.types);
    new Uint8Array(buffer, base + 24 * n, n).set(this.reasons);
    const taken = { data, crc: crc32(data), count: n, events: this.events, firstLine: this.firstLine, lastLine: this.lastLine };
    this.lines = [];
    this.amounts = [];
    this.txs = [];
    this.clients = [];
    this.kinds = [];
    this.types = [];
    this.reasons = [];
    this.events = 0;
    return taken;
  }
}

/** Decodes a stored batch; throws when its checksum or size does not match. */
export function decodeRecords(data: Uint8Array, count: number, crc: number, where: string): JournalRecord[] {
  if (data.byteLength !== count * recordBytes || crc32(data) !== crc) {
    throw new JournalCorrupt(`${where}: a journal batch fails its checksum (damaged or truncated record)`);
  }
  // Copy to an aligned buffer: SQLite's blob may sit at any offset.
  const bytes = new Uint8Array(data);
  const buffer = bytes.buffer;
  const n = count;
  const lines = new Float64Array(buffer, 0, n);
  const amounts = new Float64Array(buffer, 8 * n, n);
  const txs = new Uint32Array(buffer, 16 * n, n);
  const clients = new Uint16Array(buffer, 20 * n, n);
  const kinds = new Uint8Array(buffer, 22 * n, n);
  const types = new Uint8Array(buffer, 23 * n, n);
  const reasons = new Uint8Array(buffer, 24 * n, n);
  const records: JournalRecord[] = [];
  for (let i = 0; i < n; i++) {
    records.push({
      line: lines[i]!,
      typeCode: types[i]!,
      client: clients[i]!,
      tx: txs[i]!,
      amount: types[i]! <= 1 ? amounts[i]! : 0, // disputes carry no amount of their own
      eventAmount: amounts[i]!,
      kind: kinds[i]!,
      reason: kinds[i] === rejectedKind ? reasons[i]! : -1,
    });
  }
  return records;
}

/** The accepted event a record holds. */
export function eventOf(record: JournalRecord): AccountEvent {
  const type = eventKinds[record.kind];
  if (type === undefined) throw new Error(`invariant: record at line ${record.line} is not an event`);
  return { type, client: record.client, tx: record.tx, amount: record.eventAmount };
}

/** A journal that cannot be trusted: damaged, from another input, or from a newer format (exit 2). */
export class JournalCorrupt extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalCorrupt';
  }
}
