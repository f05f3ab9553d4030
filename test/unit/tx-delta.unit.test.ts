/** A layered snapshot's index: TxTable.exportDelta over the table at markClean gives the table (src/engine/tx-table.ts). */
import { describe, expect, it } from 'vitest';
import { StatusCode } from '../../src/domain/account.js';
import { TxTable } from '../../src/engine/tx-table.js';
import { packInfo } from '../../src/engine/tx-record-codec.js';

/** A small deterministic generator (the same streams every run). */
function random(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** What the engine does to its index: new deposits and withdrawals (mostly in id order), disputes and their ends. */
function mutate(table: TxTable, rand: (n: number) => number, steps: number, next: { id: number }, ids: number[]) {
  for (let i = 0; i < steps; i++) {
    const r = rand(10);
    if (r < 6) {
      // In order, or now and then an id below the largest (stored out of order).
      const tx = rand(8) === 0 && next.id > 10 ? 1 + rand(next.id) : (next.id += 1 + rand(3));
      if (table.find(tx) !== 0) continue;
      const withdrawal = rand(3) === 0;
      table.put(tx, packInfo(1 + rand(50), withdrawal, StatusCode.processed), withdrawal ? 0 : 1 + rand(2 ** 40));
      ids.push(tx);
    } else if (ids.length > 0) {
      const tx = ids[rand(ids.length)]!;
      const info = table.find(tx);
      const record = table.get(tx)!;
      if (record.kind === 'withdrawal') continue;
      table.find(tx);
      table.setFoundInfo(packInfo(record.client, false, r < 8 ? StatusCode.disputed : StatusCode.chargedBack));
      expect(info).not.toBe(0);
    }
  }
}

const entries = (t: TxTable) => [...t.entries()].sort((a, b) => a[0] - b[0]);

describe('a layered transaction index', () => {
  for (const [seed, before, after] of [
    [1, 5000, 300],
    [2, 20000, 9000],
    [3, 0, 4000],
    [4, 3000, 0],
  ] as const)
    it(`recovers base + delta as the whole index (seed ${seed}, ${before} steps then ${after})`, () => {
      const rand = random(seed);
      const table = new TxTable();
      const next = { id: 0 };
      const ids: number[] = [];
      mutate(table, rand, before, next, ids);
      const base = [...table.exportParts(4096)];
      table.markClean();
      mutate(table, rand, after, next, ids);
      const delta = [...table.exportDelta(4096)];

      const layered = new TxTable();
      for (const part of base) layered.importPart(part);
      for (const part of delta) layered.importDelta(part);
      const full = new TxTable();
      for (const part of table.exportParts(4096)) full.importPart(part);
      expect(entries(layered)).toEqual(entries(table));
      expect(entries(full)).toEqual(entries(table));
      expect(layered.size).toBe(table.size);
      // Small: what changed since, not the index.
      const deltaEntries = delta.reduce((n, p) => n + p.keys.length, 0);
      expect(deltaEntries).toBeLessThanOrEqual(table.deltaSize!);
      expect(table.deltaSize!).toBeLessThanOrEqual(after + 1);
    });

  it('keeps tracking across a delta: a second one over the same base holds the first one’s changes too', () => {
    const rand = random(7);
    const table = new TxTable();
    const next = { id: 0 };
    const ids: number[] = [];
    mutate(table, rand, 4000, next, ids);
    const base = [...table.exportParts(4096)];
    table.markClean();
    mutate(table, rand, 500, next, ids);
    // The next owner: base, then the first delta, tracked from the base on.
    const owner = new TxTable();
    for (const part of base) owner.importPart(part);
    owner.markClean();
    for (const part of table.exportDelta(4096)) owner.importDelta(part);
    const rand2 = random(8);
    const [n1, n2] = [{ id: next.id }, { id: next.id }];
    mutate(table, rand2, 500, n1, [...ids]);
    mutate(owner, random(8), 500, n2, [...ids]);
    const layered = new TxTable();
    for (const part of base) layered.importPart(part);
    for (const part of owner.exportDelta(4096)) layered.importDelta(part);
    expect(entries(layered)).toEqual(entries(table));
  });

  it('has no delta before markClean', () => {
    const table = new TxTable();
    expect(table.deltaSize).toBeUndefined();
    expect(() => [...table.exportDelta(4096)]).toThrow(/no delta/);
  });
});
