/**
 * Transaction ids appended in increasing order, and where each one sits: its position (0, 1, 2, …),
 * by which the caller keeps the record's other columns in pages of its own.
 *
 * A look-up does not binary-search every id: a directory indexed by `tx >>> dirShift` gives the
 * positions of the ids sharing those high bits, so the search covers at most 2^dirShift ids (a few
 * KiB of keys, one or two cache misses) instead of ~22 steps each waiting on memory (measured: the
 * binary search was where a worker waited most at 37.5 M rows). Since the directory knows an id's
 * high bits, a page keeps only its low 12, two ids in three bytes (1.5 bytes an id instead of 4:
 * at 37.5 M rows the keys were a quarter of the index).
 */
import { txPageEntries } from '../constants.js';

export const pageBits = Math.log2(txPageEntries);
export const pageSize = txPageEntries;
export const pageMask = pageSize - 1;
if (!Number.isInteger(pageBits)) throw new Error('invariant: txPageEntries must be a power of two');
/**
 * Ids per directory bucket: 4096. The directory covers the buckets from the first id's to the last
 * id's (at most 2^20 entries, 4 MiB, and 128 KiB of occupancy bits), so ids that start high cost no
 * directory below them.
 */
const dirShift = 12;
const lowMask = (1 << dirShift) - 1;
if (dirShift !== 12) throw new Error('invariant: keys are packed 12 bits each');
const keyPageBytes = (pageSize * 3) / 2;

/** Key i of a page: 12 bits, key 2k in byte 3k and the low half of 3k+1, key 2k+1 in the rest. */
function keyAt(page: Uint8Array, i: number): number {
  const o = i + (i >>> 1);
  return (i & 1) === 0 ? page[o]! | ((page[o + 1]! & 0x0f) << 8) : (page[o]! >>> 4) | (page[o + 1]! << 4);
}

function setKey(page: Uint8Array, i: number, key: number): void {
  const o = i + (i >>> 1);
  if ((i & 1) === 0) {
    page[o] = key & 0xff;
    page[o + 1] = (page[o + 1]! & 0xf0) | (key >>> 8);
  } else {
    page[o] = (page[o]! & 0x0f) | ((key & 0x0f) << 4);
    page[o + 1] = key >>> 4;
  }
}

export class SortedIds {
  /** Pages of the ids' low 12 bits (keyAt): within one directory bucket they order as the ids do. */
  private readonly keys: Uint8Array[] = [];
  count = 0;
  /** The last id appended (-1: none): only a larger one may be appended. */
  lastKey = -1;
  /** The first id's bucket (tx >>> dirShift): dir and occupied are indexed from it. */
  private dirBase = 0;
  /** dir[b]: the first position whose id's bucket is ≥ dirBase + b, for b ≤ dirTop. */
  private dir = new Int32Array(1024);
  private dirTop = -1;
  /**
   * One bit per directory bucket holding ids: a look-up of an id whose bucket has none (random ids:
   * nearly all) stops here, in at most 128 KiB that stay in cache, without reading the directory or
   * a page. It grows with the directory.
   */
  private occupied = new Uint32Array(1024 / 32);

  get bytes(): number {
    return this.keys.length * keyPageBytes + this.dir.byteLength + this.occupied.byteLength;
  }

  /** Appends `tx` (greater than lastKey) and returns its position; a new page starts at position % pageSize = 0. */
  append(tx: number): number {
    const at = this.count;
    if ((at & pageMask) === 0) this.keys.push(new Uint8Array(keyPageBytes));
    if (at === 0) this.dirBase = tx >>> dirShift;
    const b = (tx >>> dirShift) - this.dirBase;
    if (b > this.dirTop) this.extendDir(b);
    this.occupied[b >>> 5]! |= 1 << (b & 31);
    setKey(this.keys[at >>> pageBits]!, at & pageMask, tx & lowMask);
    this.count = at + 1;
    this.lastKey = tx;
    return at;
  }

  /** Position of `tx`, or -1. */
  find(tx: number): number {
    if (tx > this.lastKey) return -1; // also when empty (lastKey -1)
    const b = (tx >>> dirShift) - this.dirBase; // ≤ dirTop, as tx ≤ lastKey
    if (b < 0 || (this.occupied[b >>> 5]! & (1 << (b & 31))) === 0) return -1;
    let lo = this.dir[b]!;
    let hi = (b < this.dirTop ? this.dir[b + 1]! : this.count) - 1;
    if (lo > hi) return -1;
    const { keys } = this;
    const low = tx & lowMask; // ordered as the ids within the bucket
    // Ids are unique and sorted, so positions are at most as far apart as ids: from one key read,
    // the id's distance bounds where it can be. Where ids are dense (the common case) the first
    // guess, by interpolation, and the bound after it land on the id: two reads instead of ~12.
    let mid = lo + (((tx & lowMask) * (hi - lo + 1)) >>> dirShift);
    for (let step = 0; step < 2; step++) {
      const key = keyAt(keys[mid >>> pageBits]!, mid & pageMask);
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
      const key = keyAt(keys[mid >>> pageBits]!, mid & pageMask);
      if (key === low) return mid;
      if (key < low) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The whole ids of positions from..from+out.length-1: the directory's high bits + the page's low. */
  idsInto(from: number, out: Uint32Array): void {
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
      const low = keyAt(this.keys[at >>> pageBits]!, at & pageMask);
      out[i] = (this.dirBase + high) * (lowMask + 1) + low;
    }
  }

  /** Directory buckets dirTop+1..b start at the id about to be appended. */
  private extendDir(b: number): void {
    if (b >= this.dir.length) {
      let length = this.dir.length * 2;
      while (length <= b) length *= 2;
      const dir = new Int32Array(length);
      dir.set(this.dir.subarray(0, this.dirTop + 1));
      this.dir = dir;
      const occupied = new Uint32Array(length / 32);
      occupied.set(this.occupied);
      this.occupied = occupied;
    }
    this.dir.fill(this.count, this.dirTop + 1, b + 1);
    this.dirTop = b;
  }
}
