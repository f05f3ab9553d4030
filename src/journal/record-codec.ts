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
import { JournalCorrupt } from '../errors.js';
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

/** Collects a batch's records in reusable typed-array columns (no object or array per record). */
export class RecordBatchBuilder {
  private capacity = 0;
  private lines = new Float64Array(0);
  private amounts = new Float64Array(0);
  private txs = new Uint32Array(0);
  private clients = new Uint16Array(0);
  private kinds = new Uint8Array(0);
  private types = new Uint8Array(0);
  private reasons = new Uint8Array(0);
  count = 0;
  events = 0;

  addEvent(event: AccountEvent, row: RowRef): void {
    this.push(eventKinds.indexOf(event.type), event.amount, 255, row);
    this.events++;
  }

  addRejection(reason: number, row: RowRef): void {
    this.push(rejectedKind, row.amount, reason, row);
  }

  private push(kind: number, amount: number, reason: number, row: RowRef): void {
    if (this.count === this.capacity) this.grow();
    const i = this.count++;
    this.lines[i] = row.line;
    this.amounts[i] = amount;
    this.txs[i] = row.tx;
    this.clients[i] = row.client;
    this.kinds[i] = kind;
    this.types[i] = row.typeCode;
    this.reasons[i] = reason;
  }

  /** The encoded batch and its checksum; the builder starts afresh. */
  take(): { data: Buffer; crc: number; count: number; events: number; firstLine: number; lastLine: number } {
    const n = this.count;
    const data = Buffer.alloc(n * recordBytes);
    const buffer = data.buffer;
    const base = data.byteOffset;
    new Float64Array(buffer, base, n).set(this.lines.subarray(0, n));
    new Float64Array(buffer, base + 8 * n, n).set(this.amounts.subarray(0, n));
    new Uint32Array(buffer, base + 16 * n, n).set(this.txs.subarray(0, n));
    new Uint16Array(buffer, base + 20 * n, n).set(this.clients.subarray(0, n));
    data.set(this.kinds.subarray(0, n), 22 * n);
    data.set(this.types.subarray(0, n), 23 * n);
    data.set(this.reasons.subarray(0, n), 24 * n);
    const taken = {
      data,
      crc: crc32(data),
      count: n,
      events: this.events,
      firstLine: this.lines[0]!,
      lastLine: this.lines[n - 1]!,
    };
    this.count = 0;
    this.events = 0;
    return taken;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const grown = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(
      old: T,
      make: (n: number) => T,
    ): T => {
      const next = make(capacity);
      next.set(old as never);
      return next;
    };
    this.lines = grown(this.lines, (n) => new Float64Array(n));
    this.amounts = grown(this.amounts, (n) => new Float64Array(n));
    this.txs = grown(this.txs, (n) => new Uint32Array(n));
    this.clients = grown(this.clients, (n) => new Uint16Array(n));
    this.kinds = grown(this.kinds, (n) => new Uint8Array(n));
    this.types = grown(this.types, (n) => new Uint8Array(n));
    this.reasons = grown(this.reasons, (n) => new Uint8Array(n));
    this.capacity = capacity;
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
