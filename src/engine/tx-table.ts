/**
 * The engine's index of accepted deposits and withdrawals, for dispute look-ups.
 *
 * Tx ids mostly arrive in increasing order, so records whose id is above every id so far are
 * appended to fixed-size sorted pages (11 bytes a record, never rehashed or copied); the rare id that
 * arrives out of order goes to a hash table. A run with sequential ids costs 11 bytes per stored
 * transaction plus at most one part-filled page per shard.
 *
 * A look-up does not binary-search the whole index: a directory indexed by `tx >>> dirShift` gives
 * the sorted positions of the ids sharing those high bits, so the search covers at most
 * 2^dirShift ids (a few KiB of keys, one or two cache misses) instead of ~22 steps each waiting on
 * memory (measured: the binary search was where a worker waited most at 37.5 M rows). Since the
 * directory knows an id's high bits, a page keeps only its low 16 (2 bytes instead of 4).
 *
 * Hot path: `find` returns the packed info word (engine/tx-record-codec.ts; 0 when absent) and
 * remembers where it found it, for `foundAmount` and `setFoundInfo` — no object per look-up.
 */
import type { TxRecord } from '../domain/account.js';
import { TxHashTable } from './tx-hash-table.js';
import { txPageEntries } from '../constants.js';
import type { TxIndexPart } from '../journal/journal.js';
import { decodeRecord, encodeInfo } from './tx-record-codec.js';

const pageBits = Math.log2(txPageEntries);
const pageSize = txPageEntries;
const pageMask = pageSize - 1;
if (!Number.isInteger(pageBits)) throw new Error('invariant: txPageEntries must be a power of two');
/** Ids per directory bucket: 4096 (the directory of all 2^32 ids is at most 4 MiB). */
const dirShift = 12;
const lowMask = (1 << dirShift) - 1;

export type TxColumns = TxIndexPart;

/** 2^32: a page amount is amountHi × 2^32 + amountLo. */
const loSpan = 0x1_0000_0000;
/** amountHi value saying "the amount is in the overflow map" (amounts of 255 × 2^32 units or more). */
const hiOverflow = 255;
const pageAmountLimit = hiOverflow * loSpan;

interface Page {
  /** The id's low 16 bits: within one directory bucket (ids sharing tx >>> 12) they order as the ids do. */
  keys: Uint16Array;
  infos: Uint32Array;
  /** The amount in 5 bytes (up to 1.09 × 10^12 minor units; larger ones are rare: `overflow`). */
  amountLo: Uint32Array;
  amountHi: Uint8Array;
}

export class TxTable {
  private readonly pages: Page[] = [];
  private sortedCount = 0;
  private lastKey = -1;
  /** dir[h]: the first sorted position whose id has high bits ≥ h, for h ≤ dirTop. */
  private dir = new Int32Array(1024);
  private dirTop = -1;
  /**
   * One bit per directory bucket holding sorted records: a look-up of an id whose bucket has none
   * (random ids: nearly all) stops here, in 128 KiB that stay in cache, without reading the
   * directory (up to 4 MiB) or a page.
   */
  private readonly occupied = new Uint32Array(1 << (32 - dirShift - 5));
  private readonly outOfOrder = new TxHashTable();
  /** Amounts too large for a page's 5 bytes, by sorted position. */
  private readonly overflow = new Map<number, number>();
  // Where the last successful `find` found its record: a page and index (sorted position), or a hash slot.
  private foundPage: Page | undefined;
  private foundIndex = 0;
  private foundAt = 0;
  private foundSlot = -1;

  get size(): number {
    return this.sortedCount + this.outOfOrder.size;
  }

  get bytes(): number {
    return this.pages.length * pageSize * 11 + this.dir.byteLength + this.occupied.byteLength + this.outOfOrder.bytes;
  }

  /** The info word of `tx` (0: no record); then foundAmount/setFoundInfo address that record. */
  find(tx: number): number {
    // An id is in one of the two: ask the larger first (random ids live in the hash, and a miss in
    // the sorted pages' directory is a cache miss of its own).
    if (this.outOfOrder.size > this.sortedCount) return this.findOutOfOrder(tx) || this.findInPages(tx);
    return this.findInPages(tx) || (this.outOfOrder.size > 0 ? this.findOutOfOrder(tx) : 0);
  }

  private findInPages(tx: number): number {
    const at = this.findSorted(tx);
    if (at < 0) return 0;
    const page = this.pages[at >>> pageBits]!;
    this.foundPage = page;
    this.foundIndex = at & pageMask;
    this.foundAt = at;
    this.foundSlot = -1;
    return page.infos[at & pageMask]!;
  }

  private findOutOfOrder(tx: number): number {
    const slot = this.outOfOrder.findSlot(tx);
    if (slot < 0) return 0;
    this.foundPage = undefined;
    this.foundSlot = slot;
    return this.outOfOrder.infoAt(slot);
  }

  /** The amount of the record the last successful `find` returned. */
  foundAmount(): number {
    return this.foundPage !== undefined
      ? this.amountAt(this.foundPage, this.foundIndex, this.foundAt)
      : this.outOfOrder.amountAt(this.foundSlot);
  }

  /** Replaces the info word of the record the last successful `find` returned. */
  setFoundInfo(info: number): void {
    if (this.foundPage !== undefined) this.foundPage.infos[this.foundIndex] = info;
    else this.outOfOrder.setInfoAt(this.foundSlot, info);
  }

  /** Stores a record by its packed info word, or replaces the record of `tx`. */
  put(tx: number, info: number, amount: number): void {
    if (tx > this.lastKey) {
      this.appendRaw(tx, info, amount);
      return;
    }
    // The pages first: their occupancy bits answer "not here" for most out-of-order ids without
    // a cache miss, and the hash then finds or inserts in one probe sequence.
    const at = this.findSorted(tx);
    if (at >= 0) {
      const page = this.pages[at >>> pageBits]!;
      page.infos[at & pageMask] = info;
      this.setAmount(page, at & pageMask, at, amount);
      return;
    }
    this.outOfOrder.upsert(tx, info, amount);
  }

  get(tx: number): TxRecord | undefined {
    const info = this.find(tx);
    return info === 0 ? undefined : decodeRecord(info, this.foundAmount());
  }

  /** Stores a new record or replaces the record of `tx` (object form, for tests and tools). */
  set(tx: number, record: TxRecord): void {
    this.put(tx, encodeInfo(record), record.amount);
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
      this.fullKeys(first * pageSize, part.keys);
      for (let p = first, at = 0; p < last; p++) {
        const used = Math.min(pageSize, this.sortedCount - p * pageSize);
        const page = this.pages[p]!;
        part.infos.set(page.infos.subarray(0, used), at);
        for (let i = 0; i < used; i++) part.amounts[at + i] = this.amountAt(page, i, p * pageSize + i);
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
      else this.outOfOrder.upsert(tx, infos[i]!, amounts[i]!);
    }
  }

  *entries(): Generator<[number, TxRecord]> {
    const keys = new Uint32Array(this.sortedCount);
    this.fullKeys(0, keys);
    for (let at = 0; at < this.sortedCount; at++) {
      const page = this.pages[at >>> pageBits]!;
      const i = at & pageMask;
      yield [keys[at]!, decodeRecord(page.infos[i]!, this.amountAt(page, i, at))];
    }
    yield* this.outOfOrder.entries();
  }

  /** The whole ids of sorted positions from..from+out.length-1: the directory's high bits + the page's low. */
  private fullKeys(from: number, out: Uint32Array): void {
    // The bucket of position `from`: the last h with dir[h] <= from.
    let lo = 0;
    let hi = this.dirTop;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.dir[mid]! <= from) lo = mid;
      else hi = mid - 1;
    }
    let high = lo;
    for (let i = 0; i < out.length; i++) {
      const at = from + i;
      while (high < this.dirTop && this.dir[high + 1]! <= at) high++;
      const low = this.pages[at >>> pageBits]!.keys[at & pageMask]! & lowMask;
      out[i] = high * (lowMask + 1) + low;
    }
  }

  private appendRaw(tx: number, info: number, amount: number): void {
    const i = this.sortedCount & pageMask;
    if (i === 0) {
      this.pages.push({
        keys: new Uint16Array(pageSize),
        infos: new Uint32Array(pageSize),
        amountLo: new Uint32Array(pageSize),
        amountHi: new Uint8Array(pageSize),
      });
    }
    const high = tx >>> dirShift;
    if (high > this.dirTop) this.extendDir(high);
    this.occupied[high >>> 5]! |= 1 << (high & 31);
    const page = this.pages[this.pages.length - 1]!;
    page.keys[i] = tx & 0xffff;
    page.infos[i] = info;
    this.setAmount(page, i, this.sortedCount, amount);
    this.sortedCount++;
    this.lastKey = tx;
  }

  private amountAt(page: Page, i: number, at: number): number {
    const hi = page.amountHi[i]!;
    return hi === hiOverflow ? this.overflow.get(at)! : hi * loSpan + page.amountLo[i]!;
  }

  private setAmount(page: Page, i: number, at: number, amount: number): void {
    if (amount < pageAmountLimit) {
      page.amountLo[i] = amount >>> 0; // the low 32 bits (ToUint32 is modulo 2^32)
      page.amountHi[i] = Math.floor(amount / loSpan);
      if (this.overflow.size > 0) this.overflow.delete(at);
    } else {
      page.amountHi[i] = hiOverflow;
      this.overflow.set(at, amount);
    }
  }

  /** Directory buckets dirTop+1..high start at the record about to be appended. */
  private extendDir(high: number): void {
    if (high >= this.dir.length) {
      let length = this.dir.length * 2;
      while (length <= high) length *= 2;
      const dir = new Int32Array(length);
      dir.set(this.dir.subarray(0, this.dirTop + 1));
      this.dir = dir;
    }
    this.dir.fill(this.sortedCount, this.dirTop + 1, high + 1);
    this.dirTop = high;
  }

  /** Position of `tx` among the sorted records, or -1. */
  private findSorted(tx: number): number {
    if (tx > this.lastKey) return -1;
    const high = tx >>> dirShift;
    if ((this.occupied[high >>> 5]! & (1 << (high & 31))) === 0) return -1;
    let lo = this.dir[high]!;
    let hi = (high < this.dirTop ? this.dir[high + 1]! : this.sortedCount) - 1;
    if (lo > hi) return -1;
    const { pages } = this;
    const low = tx & 0xffff; // ordered as the ids within the bucket
    // Ids are unique and sorted, so positions are at most as far apart as ids: from one key read,
    // the id's distance bounds where it can be. Where ids are dense (the common case) the first
    // guess, by interpolation, and the bound after it land on the id: two reads instead of ~12.
    let mid = lo + (((tx & lowMask) * (hi - lo + 1)) >>> dirShift);
    for (let step = 0; step < 2; step++) {
      const key = pages[mid >>> pageBits]!.keys[mid & pageMask]!;
      if (key === low) return mid;
      if (key < low) {
        lo = mid + 1;
        hi = Math.min(hi, mid + (low - key));
        mid = hi;
      } else {
        hi = mid - 1;
        lo = Math.max(lo, mid - (key - low));
        mid = lo;
      }
      if (lo > hi) return -1;
    }
    while (lo <= hi) {
      mid = (lo + hi) >>> 1;
      const key = pages[mid >>> pageBits]!.keys[mid & pageMask]!;
      if (key === low) return mid;
      if (key < low) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}
