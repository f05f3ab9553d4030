/**
 * The journal's index of accepted deposits and withdrawals, for dispute look-ups.
 *
 * Tx ids mostly arrive in increasing order, so records whose id is above every id so far are
 * appended to fixed-size sorted pages (16 bytes a record, found by binary search, never rehashed or
 * copied); the rare id that arrives out of order goes to a hash table. A run with sequential ids
 * costs 16 bytes per stored transaction plus at most one part-filled page per shard.
 */
import type { TxRecord } from '../domain/account.js';
import { TxHashTable } from './tx-hash-table.js';
import { txPageEntries } from '../constants.js';
import type { TxIndexPart } from '../journal/journal.js';
import { decodeRecord, encodeInfo } from './tx-record-codec.js';

const pageBits = Math.log2(txPageEntries);
const pageSize = txPageEntries;
if (!Number.isInteger(pageBits)) throw new Error('invariant: txPageEntries must be a power of two');

export type TxColumns = TxIndexPart;

interface Page {
  keys: Uint32Array;
  infos: Uint32Array;
  amounts: Float64Array;
}

export class TxTable {
  private readonly pages: Page[] = [];
  private readonly firstKeys: number[] = [];
  private sortedCount = 0;
  private lastKey = -1;
  private readonly outOfOrder = new TxHashTable();

  get size(): number {
    return this.sortedCount + this.outOfOrder.size;
  }

  get bytes(): number {
    return this.pages.length * pageSize * 16 + this.outOfOrder.bytes;
  }

  get(tx: number): TxRecord | undefined {
    const at = this.findSorted(tx);
    if (at >= 0) {
      const page = this.pages[at >>> pageBits]!;
      const i = at & (pageSize - 1);
      return decodeRecord(page.infos[i]!, page.amounts[i]!);
    }
    return this.outOfOrder.size > 0 ? this.outOfOrder.get(tx) : undefined;
  }

  /** Stores a new record or replaces the record of `tx`. */
  set(tx: number, record: TxRecord): void {
    if (tx > this.lastKey) {
      this.append(tx, record);
      return;
    }
    const at = this.findSorted(tx);
    if (at >= 0) {
      const page = this.pages[at >>> pageBits]!;
      const i = at & (pageSize - 1);
      page.infos[i] = encodeInfo(record);
      page.amounts[i] = record.amount;
    } else if (!this.outOfOrder.update(tx, record)) {
      this.outOfOrder.insert(tx, record);
    }
  }

  /**
   * Every record as columns, in parts of at most `partEntries` (a multiple of the page size): the
   * sorted pages first, in order, then the out-of-order ones. For snapshots, so that no single
   * buffer holds the whole index.
   */
  *exportParts(partEntries: number): Generator<TxColumns> {
    const pagesPerPart = Math.max(1, Math.floor(partEntries / pageSize));
    for (let first = 0; first < this.pages.length; first += pagesPerPart) {
      const last = Math.min(this.pages.length, first + pagesPerPart);
      const n = Math.min(this.sortedCount, last * pageSize) - first * pageSize;
      const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
      for (let p = first, at = 0; p < last; p++) {
        const used = Math.min(pageSize, this.sortedCount - p * pageSize);
        const page = this.pages[p]!;
        part.keys.set(page.keys.subarray(0, used), at);
        part.infos.set(page.infos.subarray(0, used), at);
        part.amounts.set(page.amounts.subarray(0, used), at);
        at += used;
      }
      yield part;
    }
    const n = this.outOfOrder.size;
    if (n > 0) {
      const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
      this.outOfOrder.exportInto(part.keys, part.infos, part.amounts, 0);
      yield part;
    }
  }

  /** Adds exportParts' output back, part by part, in the order it was exported. */
  importPart({ keys, infos, amounts }: TxColumns): void {
    for (let i = 0; i < keys.length; i++) {
      const tx = keys[i]!;
      if (tx > this.lastKey) this.appendRaw(tx, infos[i]!, amounts[i]!);
      else this.outOfOrder.insertRaw(tx, infos[i]!, amounts[i]!);
    }
  }

  *entries(): Generator<[number, TxRecord]> {
    for (let at = 0; at < this.sortedCount; at++) {
      const page = this.pages[at >>> pageBits]!;
      const i = at & (pageSize - 1);
      yield [page.keys[i]!, decodeRecord(page.infos[i]!, page.amounts[i]!)];
    }
    yield* this.outOfOrder.entries();
  }

  private append(tx: number, record: TxRecord): void {
    this.appendRaw(tx, encodeInfo(record), record.amount);
  }

  private appendRaw(tx: number, info: number, amount: number): void {
    const i = this.sortedCount & (pageSize - 1);
    if (i === 0) {
      this.pages.push({
        keys: new Uint32Array(pageSize),
        infos: new Uint32Array(pageSize),
        amounts: new Float64Array(pageSize),
      });
      this.firstKeys.push(tx);
    }
    const page = this.pages[this.pages.length - 1]!;
    page.keys[i] = tx;
    page.infos[i] = info;
    page.amounts[i] = amount;
    this.sortedCount++;
    this.lastKey = tx;
  }

  /** Position of `tx` among the sorted records, or -1. */
  private findSorted(tx: number): number {
    if (tx > this.lastKey || this.sortedCount === 0) return -1;
    const { firstKeys } = this;
    // Last page whose first key ≤ tx.
    let lo = 0;
    let hi = firstKeys.length - 1;
    if (tx < firstKeys[0]!) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (firstKeys[mid]! <= tx) lo = mid;
      else hi = mid - 1;
    }
    const page = this.pages[lo]!;
    const used = lo === this.pages.length - 1 ? this.sortedCount - lo * pageSize : pageSize;
    let a = 0;
    let b = used - 1;
    const keys = page.keys;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const key = keys[mid]!;
      if (key === tx) return lo * pageSize + mid;
      if (key < tx) a = mid + 1;
      else b = mid - 1;
    }
    return -1;
  }
}
