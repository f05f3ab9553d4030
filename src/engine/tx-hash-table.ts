/**
 * Open-addressing hash table of transaction records over typed arrays (16 bytes a slot, load factor
 * ≤ 0.75): no object per transaction, nothing for the garbage collector to trace.
 */
import type { TxRecord } from '../domain/account.js';
import { decodeRecord } from './tx-record-codec.js';

const loadFactorMax = 0.75;
const capacityMin = 1024;

export class TxHashTable {
  private keys = new Uint32Array(capacityMin);
  private infos = new Uint32Array(capacityMin); // 0: empty slot
  private amounts = new Float64Array(capacityMin);
  private mask = capacityMin - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.keys.byteLength + this.infos.byteLength + this.amounts.byteLength;
  }

  /** Inserts an absent key with an encoded info word (snapshot loading). */
  insertRaw(tx: number, info: number, amount: number): void {
    if (this.count + 1 > (this.mask + 1) * loadFactorMax) this.grow();
    const slot = this.emptySlotFor(tx);
    this.keys[slot] = tx;
    this.infos[slot] = info;
    this.amounts[slot] = amount;
    this.count++;
  }

  /** Copies every entry into the columns from `at` on; returns the next position. */
  exportInto(keys: Uint32Array, infos: Uint32Array, amounts: Float64Array, at: number): number {
    for (let slot = 0; slot <= this.mask; slot++) {
      if (this.infos[slot] === 0) continue;
      keys[at] = this.keys[slot]!;
      infos[at] = this.infos[slot]!;
      amounts[at] = this.amounts[slot]!;
      at++;
    }
    return at;
  }

  *entries(): Generator<[number, TxRecord]> {
    for (let slot = 0; slot <= this.mask; slot++) {
      if (this.infos[slot] !== 0) yield [this.keys[slot]!, decodeRecord(this.infos[slot]!, this.amounts[slot]!)];
    }
  }

  /** The slot holding `tx`, or -1. */
  findSlot(tx: number): number {
    return this.find(tx);
  }

  infoAt(slot: number): number {
    return this.infos[slot]!;
  }

  amountAt(slot: number): number {
    return this.amounts[slot]!;
  }

  setInfoAt(slot: number, info: number): void {
    this.infos[slot] = info;
  }

  setAt(slot: number, info: number, amount: number): void {
    this.infos[slot] = info;
    this.amounts[slot] = amount;
  }

  private find(tx: number): number {
    const { keys, infos, mask } = this;
    for (let slot = hash(tx) & mask; ; slot = (slot + 1) & mask) {
      if (infos[slot] === 0) return -1;
      if (keys[slot] === tx) return slot;
    }
  }

  private emptySlotFor(tx: number): number {
    const { infos, mask } = this;
    let slot = hash(tx) & mask;
    while (infos[slot] !== 0) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { keys, infos, amounts } = this;
    const size = (this.mask + 1) * 2;
    this.keys = new Uint32Array(size);
    this.infos = new Uint32Array(size);
    this.amounts = new Float64Array(size);
    this.mask = size - 1;
    for (let old = 0; old < infos.length; old++) {
      if (infos[old] === 0) continue;
      const slot = this.emptySlotFor(keys[old]!);
      this.keys[slot] = keys[old]!;
      this.infos[slot] = infos[old]!;
      this.amounts[slot] = amounts[old]!;
    }
  }
}

function hash(tx: number): number {
  return Math.imul(tx ^ (tx >>> 16), 0x45d9f3b) ^ (tx >>> 7);
}
