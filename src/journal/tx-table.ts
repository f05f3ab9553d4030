/**
 * The journal's index of accepted deposits and withdrawals, for dispute look-ups: an open-addressing
 * hash table over typed arrays (16 bytes a slot, load factor ≤ 0.75), not a Map of objects, so a
 * stored transaction costs 21-43 bytes (≈ 28 on average) and nothing for the garbage collector.
 */
import type { DisputeStatus, TxKind, TxRecord } from '../domain/account.js';

const loadFactorMax = 0.75;
const capacityMin = 1024;

// info word: bit 0 occupied, bit 1 withdrawal, bits 2-3 status, bits 8-23 client
const occupied = 1;
const withdrawalBit = 2;
const statusShift = 2;
const clientShift = 8;
const statuses: readonly DisputeStatus[] = ['processed', 'disputed', 'chargedBack'];

export class TxTable {
  private keys: Uint32Array;
  private infos: Uint32Array;
  private amounts: Float64Array;
  private mask: number;
  private count = 0;

  constructor(capacity = capacityMin) {
    const size = 1 << Math.ceil(Math.log2(Math.max(capacity, capacityMin)));
    this.keys = new Uint32Array(size);
    this.infos = new Uint32Array(size);
    this.amounts = new Float64Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.keys.byteLength + this.infos.byteLength + this.amounts.byteLength;
  }

  get(tx: number): TxRecord | undefined {
    const slot = this.find(tx);
    if (slot < 0) return undefined;
    const info = this.infos[slot]!;
    return {
      client: info >>> clientShift,
      kind: info & withdrawalBit ? 'withdrawal' : 'deposit',
      amount: this.amounts[slot]!,
      status: statuses[(info >>> statusShift) & 3]!,
    };
  }

  has(tx: number): boolean {
    return this.find(tx) >= 0;
  }

  set(tx: number, record: TxRecord): void {
    let slot = this.find(tx);
    if (slot < 0) {
      if (this.count + 1 > (this.mask + 1) * loadFactorMax) this.grow();
      slot = this.emptySlotFor(tx);
      this.count++;
    }
    this.keys[slot] = tx;
    this.infos[slot] = encodeInfo(record.client, record.kind, record.status);
    this.amounts[slot] = record.amount;
  }

  /** Every stored record, in no particular order (for snapshots). */
  *entries(): Generator<[number, TxRecord]> {
    for (let slot = 0; slot <= this.mask; slot++) {
      if (this.infos[slot]! & occupied) yield [this.keys[slot]!, this.get(this.keys[slot]!)!];
    }
  }

  private find(tx: number): number {
    const { keys, infos, mask } = this;
    for (let slot = hash(tx) & mask; ; slot = (slot + 1) & mask) {
      const info = infos[slot]!;
      if (info === 0) return -1;
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

function encodeInfo(client: number, kind: TxKind, status: DisputeStatus): number {
  return (
    occupied |
    (kind === 'withdrawal' ? withdrawalBit : 0) |
    (statuses.indexOf(status) << statusShift) |
    (client << clientShift)
  ) >>> 0;
}
