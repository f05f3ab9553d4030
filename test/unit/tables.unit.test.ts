import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StatusCode, type TxRecord } from '../../src/domain/account.js';
import { TxTable } from '../../src/engine/tx-table.js';
import { infoStatus, infoWithdrawal, packInfo, withStatus } from '../../src/engine/tx-record-codec.js';
import { TxIdSet } from '../../src/pipeline/tx-id-set.js';
import { shardOf } from '../../src/domain/ids.js';

describe('TxTable', () => {
  // The index keeps a withdrawal as its client and kind only (no rule reads its amount, and its
  // status never leaves processed): it reads back with amount 0. A tx id keeps its kind.
  const kindOf = (tx: number): TxRecord['kind'] => (tx % 3 === 0 ? 'withdrawal' : 'deposit');
  const stored = (r: TxRecord): TxRecord => (r.kind === 'withdrawal' ? { ...r, amount: 0, status: 'processed' } : r);

  it('behaves like a Map for any order of ids (sorted pages + out-of-order hash)', () => {
    const record = fc.record({
      client: fc.integer({ min: 0, max: 65535 }),
      // Pages keep an amount in 38 bits below 63 × 2^32 and the rest in an overflow map: both sides.
      amount: fc.oneof(
        fc.integer({ min: 1, max: 2 ** 33 }),
        fc.constantFrom(2 ** 32 - 1, 2 ** 32, 63 * 2 ** 32 - 1, 63 * 2 ** 32, 64 * 2 ** 32, Number.MAX_SAFE_INTEGER),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      ),
      status: fc.constantFrom<TxRecord['status']>('processed', 'disputed', 'chargedBack'),
    });
    const tx = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff }));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(tx, record), { maxLength: 400 }),
        fc.array(tx, { maxLength: 50 }),
        (writes, probes) => {
          const table = new TxTable();
          const model = new Map<number, TxRecord>();
          for (const [id, fields] of writes) {
            const r = stored({ ...fields, kind: kindOf(id) });
            table.set(id, r);
            model.set(id, r);
          }
          expect(table.size).toBe(model.size);
          for (const id of [...model.keys(), ...probes]) expect(table.get(id)).toEqual(model.get(id));
          expect(new Map(table.entries())).toEqual(model);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses what the rules never do: a disputed withdrawal, a record that changes kind', () => {
    const table = new TxTable();
    expect(() => table.put(5, packInfo(1, true, StatusCode.disputed), 10)).toThrow(/never disputed/);
    table.set(6, { client: 1, kind: 'deposit', amount: 10, status: 'processed' });
    expect(() => table.set(6, { client: 1, kind: 'withdrawal', amount: 10, status: 'processed' })).toThrow(
      /changes kind/,
    );
    table.put(7, packInfo(2, true, StatusCode.processed), 10);
    expect(table.find(7)).toBe(packInfo(2, true, StatusCode.processed));
    expect(() => table.setFoundInfo(packInfo(2, true, StatusCode.disputed))).toThrow(/never changes/);
    expect(table.find(6)).toBe(packInfo(1, false, StatusCode.processed));
    expect(() => table.setFoundInfo(packInfo(3, false, StatusCode.disputed))).toThrow(/only its status/);
  });

  it('exports and imports itself in parts (snapshots), out-of-order ids included', () => {
    const table = new TxTable();
    const model = new Map<number, TxRecord>();
    const put = (tx: number) => {
      const r = stored({
        client: tx % 7,
        kind: kindOf(tx),
        amount: tx % 5 === 0 ? Number.MAX_SAFE_INTEGER - tx : tx * 3 + 1, // some past a page's 38 bits
        status: tx % 4 === 1 ? 'disputed' : 'processed',
      });
      table.set(tx, r);
      model.set(tx, r);
    };
    for (let tx = 10; tx < 300_000; tx += 2) put(tx);
    for (let tx = 11; tx < 5_000; tx += 10) put(tx); // below the last id: the out-of-order table
    const copy = new TxTable();
    let parts = 0;
    for (const part of table.exportParts(1 << 16)) {
      copy.importPart(part);
      parts++;
    }
    expect(parts).toBeGreaterThan(2);
    expect(copy.size).toBe(model.size);
    expect(new Map(copy.entries())).toEqual(model);
  });

  it('exports ids out of order in parts of the size asked too, not as one part of them all', () => {
    const table = new TxTable();
    const model = new Map<number, TxRecord>();
    // Descending: every id but the first is below the last seen, so all go to the out-of-order hash.
    for (let tx = 200_000; tx > 0; tx--) {
      const r = stored({ client: tx % 11, kind: kindOf(tx), amount: tx, status: 'processed' });
      table.set(tx, r);
      model.set(tx, r);
    }
    const copy = new TxTable();
    const sizes: number[] = [];
    for (const part of table.exportParts(1 << 16)) {
      copy.importPart(part);
      sizes.push(part.keys.length);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1 << 16);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200_000);
    expect(new Map(copy.entries())).toEqual(model);
  });

  it('imports a snapshot whose one sorted run interleaves deposits and withdrawals (the earlier layout)', () => {
    const n = 70_000;
    const keys = Uint32Array.from({ length: n }, (_, i) => i + 1);
    const infos = Uint32Array.from(keys, (tx) => packInfo(tx & 0xffff, kindOf(tx) === 'withdrawal', 0));
    const amounts = Float64Array.from(keys, (tx) => tx * 11);
    const table = new TxTable();
    table.importPart({ keys, infos, amounts });
    expect(table.size).toBe(n);
    for (const tx of [1, 2, 3, 65_537, 69_999, 70_000]) {
      const withdrawal = kindOf(tx) === 'withdrawal';
      expect(table.find(tx)).toBe(packInfo(tx & 0xffff, withdrawal, 0));
      expect(table.foundAmount()).toBe(withdrawal ? 0 : tx * 11);
    }
    expect(table.find(n + 1)).toBe(0);
  });

  it("find/foundAmount/setFoundInfo/put (the engine's hot path) behave like a Map, ids in any order", () => {
    // Ids mostly ascending with gaps and jumps across directory buckets (2^12 ids), some going back.
    const step = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
      { weight: 2, arbitrary: fc.integer({ min: 4000, max: 20_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: -30_000, max: -1 }) },
      { weight: 1, arbitrary: fc.constant(0x7fffffff) },
    );
    const op = fc.tuple(step, fc.integer({ min: 0, max: 65535 }), fc.boolean(), fc.integer({ min: 0, max: 2 }));
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 600 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 30 }),
        (ops, probes) => {
          const table = new TxTable();
          const model = new Map<number, { info: number; amount: number }>();
          let tx = 0;
          for (const [delta, client, withdrawal, status] of ops) {
            tx = Math.min(0xffffffff, Math.max(0, tx + delta));
            const known = model.get(tx);
            if (known === undefined) {
              const info = packInfo(client, withdrawal, 0);
              table.put(tx, info, tx * 7 + 1);
              model.set(tx, { info, amount: withdrawal ? 0 : tx * 7 + 1 });
            } else {
              expect(table.find(tx)).toBe(known.info);
              if (infoWithdrawal(known.info)) continue; // a withdrawal's record never changes
              // A deposit only changes status, through the record the last find returned.
              const info = withStatus(known.info, status);
              table.setFoundInfo(info);
              model.set(tx, { info, amount: known.amount });
            }
          }
          expect(table.size).toBe(model.size);
          for (const id of [...model.keys(), ...probes]) {
            const info = table.find(id);
            const want = model.get(id);
            expect(info).toBe(want?.info ?? 0);
            if (want) {
              expect(table.foundAmount()).toBe(want.amount);
              expect(infoStatus(info)).toBe(infoStatus(want.info));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives ids that start near 2^32 no directory below them', () => {
    const table = new TxTable();
    const empty = table.bytes;
    for (let i = 0; i < 1000; i++) {
      const tx = 0xffff0000 + i * 40; // across 10 directory buckets of 4,096 ids
      table.put(tx, packInfo(i, i % 2 === 1, 0), i + 1);
    }
    expect(table.find(0xffff0000 + 40 * 7)).toBe(packInfo(7, true, 0));
    expect(table.find(0xffff0000 + 40 * 8)).toBe(packInfo(8, false, 0));
    expect(table.foundAmount()).toBe(9);
    expect(table.find(0xffff0000 + 41)).toBe(0);
    expect(table.find(5)).toBe(0);
    // Two key pages (one per kind) and value pages; a directory from bucket 0 would add 8 MiB.
    expect(table.bytes - empty).toBeLessThan(2 * 65_536 * 8.5 + 64 * 1024);
    const copy = new TxTable();
    for (const part of table.exportParts(1 << 16)) copy.importPart(part);
    expect(new Map(copy.entries())).toEqual(new Map(table.entries()));
  });

  it('holds sequential ids at 8.5 bytes a deposit and 3.5 a withdrawal (whole pages)', () => {
    const table = new TxTable();
    const empty = table.bytes;
    const n = 8 * 65_536; // 4 pages of each kind
    for (let tx = 1; tx <= n; tx++)
      table.set(tx, { client: tx & 0xffff, kind: tx & 1 ? 'deposit' : 'withdrawal', amount: tx, status: 'processed' });
    expect(table.get(123_457)).toEqual({
      client: 123_457 & 0xffff,
      kind: 'deposit',
      amount: 123_457,
      status: 'processed',
    });
    expect(table.get(123_456)).toEqual({
      client: 123_456 & 0xffff,
      kind: 'withdrawal',
      amount: 0,
      status: 'processed',
    });
    expect(table.bytes - empty).toBe((n / 2) * 8.5 + (n / 2) * 3.5);
  });
});

describe('TxIdSet', () => {
  it('reports exactly the ids seen before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 0xffffffff })), {
          maxLength: 3000,
        }),
        (ids) => {
          const set = new TxIdSet();
          const model = new Set<number>();
          for (const id of ids) {
            expect(set.testAndAdd(id)).toBe(model.has(id));
            model.add(id);
          }
          expect(set.size).toBe(model.size);
        },
      ),
      { numRuns: 200 },
    );
  });
  it('keeps dense ids as bits: under 3 bits an id past the fixed tables, for ids in order', () => {
    const set = new TxIdSet();
    const empty = set.bytes;
    const n = 4_000_000;
    let wrong = 0; // counted, not asserted per id: four million expect() calls take a minute
    for (let id = 0; id < n; id++) if (set.testAndAdd(id)) wrong++;
    for (let id = 0; id < n; id += 7) if (!set.testAndAdd(id)) wrong++;
    expect(wrong).toBe(0);
    expect(set.size).toBe(n);
    expect(((set.bytes - empty) * 8) / n).toBeLessThan(3);
  });
  it('finds dense ids that arrive shuffled, whether they went to the hash or to a bitmap', () => {
    const set = new TxIdSet();
    const ids = Array.from({ length: 20_000 }, (_, i) => i * 3 + 0x50000);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    for (const id of ids) expect(set.testAndAdd(id)).toBe(false);
    for (const id of ids) expect(set.testAndAdd(id)).toBe(true);
    for (const id of ids) expect(set.testAndAdd(id + 1)).toBe(false);
    expect(set.size).toBe(40_000);
  });
  it('keeps scattered ids in about 4 to 11 bytes each, and the ids at both ends of the range', () => {
    const set = new TxIdSet();
    const empty = set.bytes;
    const n = 500_000;
    let wrong = 0;
    for (let i = 1; i <= n; i++) if (set.testAndAdd(Math.imul(i, 2654435761) >>> 0)) wrong++;
    for (let i = 1; i <= n; i += 13) if (!set.testAndAdd(Math.imul(i, 2654435761) >>> 0)) wrong++;
    expect(wrong).toBe(0);
    expect((set.bytes - empty) / n).toBeLessThan(11);
    for (const edge of [0, 0xffffffff, 0xfffffffe]) {
      expect(set.testAndAdd(edge)).toBe(false);
      expect(set.testAndAdd(edge)).toBe(true);
    }
  });
});

describe('shardOf', () => {
  it('is stable and within range for every client and shard count', () => {
    for (const shards of [1, 2, 3, 8, 64]) {
      const counts = new Array(shards).fill(0);
      for (let client = 0; client <= 65535; client++) {
        const shard = shardOf(client, shards);
        expect(shard).toBe(shardOf(client, shards));
        counts[shard]++;
      }
      // Consecutive ids spread evenly.
      expect(Math.min(...counts)).toBeGreaterThan((65536 / shards) * 0.9);
    }
  });
});
