/**
 * Open-addressing hash table of transaction records (the index's out-of-order ids: with random ids,
 * all of them), in typed buffers: no object per transaction, nothing for the GC to trace.
 *
 * - A slot is 16 bytes (id, info word, amount) in one buffer, so a probe reads one cache line
 *   rather than one in each of three columns: with random ids nearly every look-up misses the cache.
 * - The table is 64 parts chosen by the hash's top bits, each growing on its own: a part's rehash
 *   walks a few MiB that stay in cache instead of the whole table, and the old and new copies of
 *   one part, not of everything, exist at once (3.4 M random ids: one table peaked at 134 + 67 MiB
 *   while doubling).
 * A slot handle (findSlot) is `slot × 64 + part` (a part never nears 2^26 slots: 1 GiB).
 */
import type { TxRecord } from '../domain/account.js';
import type { TxIndexPart } from './journal-port.js';
import { decodeRecord } from './tx-record-codec.js';

const newColumns = (n: number): TxIndexPart => ({
  keys: new Uint32Array(n),
  infos: new Uint32Array(n),
  amounts: new Float64Array(n),
});

const loadFactorMax = 0.75;
const partBits = 6;
const parts = 1 << partBits;
const partMask = parts - 1;
const partCapacityMin = 256;
/** u32 words a slot: id, info (0: empty slot), then the amount as one f64 (words 2 and 3). */
const slotWords = 4;

class Part {
  words = new Uint32Array(partCapacityMin * slotWords);
  amounts = new Float64Array(this.words.buffer); // the amount of slot s is amounts[s * 2 + 1]
  mask = partCapacityMin - 1;
  count = 0;
}

export class TxHashTable {
  private readonly parts = Array.from({ length: parts }, () => new Part());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    let bytes = 0;
    for (const part of this.parts) bytes += part.words.byteLength;
    return bytes;
  }

  /** Stores the record of `tx`: replaces it when present, else inserts it (one probe sequence). */
  upsert(tx: number, info: number, amount: number): void {
    const h = hash(tx);
    let part = this.parts[h >>> (32 - partBits)]!;
    // Grown before probing, so that the empty slot found is in the table written to.
    if (part.count + 1 > (part.mask + 1) * loadFactorMax) part = this.grow(h >>> (32 - partBits));
    const { words, mask } = part;
    let slot = h & mask;
    for (;;) {
      const at = slot * slotWords;
      if (words[at + 1] === 0) break;
      if (words[at] === tx) {
        words[at + 1] = info;
        part.amounts[slot * 2 + 1] = amount;
        return;
      }
      slot = (slot + 1) & mask;
    }
    words[slot * slotWords] = tx;
    words[slot * slotWords + 1] = info;
    part.amounts[slot * 2 + 1] = amount;
    part.count++;
    this.count++;
  }

  /**
   * Every entry, as columns of at most `perPart` entries each: a snapshot holds one such part at a
   * time, not a copy of the whole table (16 bytes an entry: with random ids, every transaction).
   */
  *exportParts(perPart: number): Generator<TxIndexPart> {
    let left = this.count;
    let columns = newColumns(Math.min(perPart, left));
    let at = 0;
    for (const part of this.parts) {
      const { words } = part;
      for (let slot = 0; slot <= part.mask; slot++) {
        if (words[slot * slotWords + 1] === 0) continue;
        columns.keys[at] = words[slot * slotWords]!;
        columns.infos[at] = words[slot * slotWords + 1]!;
        columns.amounts[at] = part.amounts[slot * 2 + 1]!;
        if (++at < columns.keys.length) continue;
        yield columns;
        left -= at;
        at = 0;
        if (left > 0) columns = newColumns(Math.min(perPart, left));
      }
    }
  }

  *entries(): Generator<[number, TxRecord]> {
    for (const part of this.parts) {
      for (let slot = 0; slot <= part.mask; slot++) {
        const info = part.words[slot * slotWords + 1]!;
        if (info !== 0) yield [part.words[slot * slotWords]!, decodeRecord(info, part.amounts[slot * 2 + 1]!)];
      }
    }
  }

  /** The handle of the slot holding `tx`, or -1. */
  findSlot(tx: number): number {
    const h = hash(tx);
    const p = h >>> (32 - partBits);
    const { words, mask } = this.parts[p]!;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const at = slot * slotWords;
      if (words[at + 1] === 0) return -1;
      if (words[at] === tx) return slot * parts + p;
    }
  }

  infoAt(handle: number): number {
    return this.parts[handle & partMask]!.words[(handle >>> partBits) * slotWords + 1]!;
  }

  amountAt(handle: number): number {
    return this.parts[handle & partMask]!.amounts[(handle >>> partBits) * 2 + 1]!;
  }

  setInfoAt(handle: number, info: number): void {
    this.parts[handle & partMask]!.words[(handle >>> partBits) * slotWords + 1] = info;
  }

  /** Doubles part `p` (its slots rehashed in place of the old buffer); returns it. */
  private grow(p: number): Part {
    const old = this.parts[p]!;
    const part = new Part();
    const size = (old.mask + 1) * 2;
    part.words = new Uint32Array(size * slotWords);
    part.amounts = new Float64Array(part.words.buffer);
    part.mask = size - 1;
    part.count = old.count;
    const { words, mask } = part;
    for (let from = 0; from <= old.mask; from++) {
      const info = old.words[from * slotWords + 1]!;
      if (info === 0) continue;
      const tx = old.words[from * slotWords]!;
      let slot = hash(tx) & mask;
      while (words[slot * slotWords + 1] !== 0) slot = (slot + 1) & mask;
      words[slot * slotWords] = tx;
      words[slot * slotWords + 1] = info;
      part.amounts[slot * 2 + 1] = old.amounts[from * 2 + 1]!;
    }
    this.parts[p] = part;
    return part;
  }
}

/** A full-avalanche 32-bit mix (the top bits pick the part, the low bits the slot). */
function hash(tx: number): number {
  let h = Math.imul(tx ^ (tx >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
