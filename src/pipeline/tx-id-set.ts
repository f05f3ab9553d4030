/**
 * Every tx id seen in a well-formed deposit or withdrawal, for SPEC's global `duplicate_tx` rule.
 *
 * Two structures, chosen per block of 65,536 ids (the id's high 16 bits) by how dense it is:
 * - an open-addressing hash set of whole ids (4 bytes a slot, load ≤ 0.5 to 0.75 after doubling),
 *   where every block starts: scattered ids (random ids over the whole u32 range: ~40 per block)
 *   cost one probe, usually one cache miss, and ~6–8 bytes each;
 * - an 8 KiB bitmap per block, once the block has `denseAfter` ids in the hash: sequential or
 *   clustered ids then cost one bit each and never touch the hash again, except for an id at or
 *   below the highest one the block left in the hash (ids out of order).
 * Before, every block was a sorted array of low halves (a roaring bitmap): random ids made 65,536
 * small arrays, each insertion a search and a move, ~100 MB and 1.8 CPU s more than sequential ids
 * on 3.75 M rows (`bench/route-only.mjs`).
 */
import { txIdMax } from '../domain/ids.js';

/** Ids a block holds in the hash before it gets a bitmap: 1,024 × ~5.3 bytes ≈ the bitmap's 8 KiB. */
const denseAfter = 1024;
const blocks = 65536;
const bitmapWords = 65536 / 32;
const capacityMin = 1 << 12;

export class TxIdSet {
  // Hash slots hold id + 1 (0: empty); the one id 0xffffffff, whose +1 wraps to 0, is a flag.
  private slots = new Uint32Array(capacityMin);
  private shift = 32 - Math.log2(capacityMin);
  private inHash = 0;
  private hasTop = false;
  /** Per block: ids it has in the hash, the highest low half among them (-1: none), its bitmap. */
  private readonly blockCounts = new Uint16Array(blocks);
  private readonly blockHashMax = new Int32Array(blocks).fill(-1);
  private readonly bitmaps: (Uint32Array | undefined)[] = new Array<Uint32Array | undefined>(blocks).fill(undefined);
  private bitmapCount = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.slots.byteLength + this.bitmapCount * bitmapWords * 4 + blocks * (2 + 4 + 8);
  }

  /** Adds `tx`; returns true when it was already present. */
  testAndAdd(tx: number): boolean {
    const high = tx >>> 16;
    const low = tx & 0xffff;
    const bitmap = this.bitmaps[high];
    if (bitmap !== undefined) {
      const word = low >>> 5;
      const bit = 1 << (low & 31);
      if ((bitmap[word]! & bit) !== 0) return true;
      if (low <= this.blockHashMax[high]! && this.hashHas(tx)) return true;
      bitmap[word]! |= bit;
      this.count++;
      return false;
    }
    if (this.hashTestAndAdd(tx)) return true;
    this.count++;
    if (low > this.blockHashMax[high]!) this.blockHashMax[high] = low;
    if (++this.blockCounts[high]! === denseAfter) {
      this.bitmaps[high] = new Uint32Array(bitmapWords);
      this.bitmapCount++;
    }
    return false;
  }

  private hashHas(tx: number): boolean {
    if (tx === txIdMax) return this.hasTop;
    const key = tx + 1;
    const { slots } = this;
    const mask = slots.length - 1;
    for (let slot = Math.imul(key, 0x9e3779b1) >>> this.shift; ; slot = (slot + 1) & mask) {
      const at = slots[slot]!;
      if (at === key) return true;
      if (at === 0) return false;
    }
  }

  /** Adds `tx` to the hash; true when it was there already. */
  private hashTestAndAdd(tx: number): boolean {
    if (tx === txIdMax) {
      if (this.hasTop) return true;
      this.hasTop = true;
      return false;
    }
    const key = tx + 1;
    const { slots } = this;
    const mask = slots.length - 1;
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const at = slots[slot]!;
      if (at === key) return true;
      if (at === 0) break;
      slot = (slot + 1) & mask;
    }
    slots[slot] = key;
    if (++this.inHash * 4 > slots.length * 3) this.grow();
    return false;
  }

  private grow(): void {
    const old = this.slots;
    const slots = new Uint32Array(old.length * 2);
    const shift = this.shift - 1;
    const mask = slots.length - 1;
    for (let i = 0; i < old.length; i++) {
      const key = old[i]!;
      if (key === 0) continue;
      let slot = Math.imul(key, 0x9e3779b1) >>> shift;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = key;
    }
    this.slots = slots;
    this.shift = shift;
  }
}
