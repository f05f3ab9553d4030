/**
 * The compact codec of a batch's records (src/journal/compact-codec.ts): any batch decodes to the
 * columns it was encoded from, at every boundary of every field; any misfit of bytes and count is
 * refused, never read as other records.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactCodecError, decodeCompact, encodeCompact } from '../../src/journal/compact-codec.js';
import { recordLayout } from '../../src/layout.js';

interface Rec {
  lineGap: number;
  amount: number;
  tx: number;
  client: number;
  rejected: boolean;
  kindOrReason: number;
  type: number;
}

const rec: fc.Arbitrary<Rec> = fc.record({
  lineGap: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 ** 40 })),
  amount: fc.oneof(fc.constantFrom(0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1), fc.maxSafeNat()),
  tx: fc.oneof(fc.constantFrom(0, 2 ** 32 - 1, 2 ** 31), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  client: fc.oneof(fc.constantFrom(0, 65535), fc.integer({ min: 0, max: 65535 })),
  rejected: fc.boolean(),
  kindOrReason: fc.integer({ min: 0, max: 14 }),
  type: fc.integer({ min: 0, max: 4 }),
});

function columnsOf(recs: Rec[], firstLine: number) {
  const c = recordLayout.views(new ArrayBuffer(recordLayout.bytes(recs.length)), recs.length);
  let line = firstLine;
  recs.forEach((r, i) => {
    if (i > 0) line += r.lineGap;
    c.lines[i] = line;
    c.amounts[i] = r.amount;
    c.txs[i] = r.tx;
    c.clients[i] = r.client;
    c.kinds[i] = r.rejected ? 5 : r.kindOrReason % 5;
    c.types[i] = r.type;
    c.reasons[i] = r.rejected ? r.kindOrReason : 255;
  });
  return c;
}

describe('compact codec', () => {
  it('decodes every batch to the columns it was encoded from', () => {
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 60 }), fc.integer({ min: 1, max: 2 ** 40 }), (recs, firstLine) => {
        const c = columnsOf(recs, firstLine);
        const data = encodeCompact(c, recs.length, firstLine);
        const back = decodeCompact(data, recs.length, firstLine);
        for (const name of Object.keys(c) as (keyof typeof c)[]) expect([...back[name]]).toEqual([...c[name]]);
      }),
    );
  });

  it('refuses bytes that do not hold exactly `count` records', () => {
    fc.assert(
      fc.property(fc.array(rec, { minLength: 1, maxLength: 20 }), (recs) => {
        const c = columnsOf(recs, 1);
        const data = encodeCompact(c, recs.length, 1);
        expect(() => decodeCompact(data.subarray(0, data.length - 1), recs.length, 1)).toThrow(CompactCodecError);
        expect(() => decodeCompact(Buffer.concat([data, Buffer.of(0)]), recs.length, 1)).toThrow(CompactCodecError);
        expect(() => decodeCompact(data, recs.length - 1, 1)).toThrow(CompactCodecError);
        expect(() => decodeCompact(data, recs.length + 1, 1)).toThrow(CompactCodecError);
      }),
    );
  });

  it('refuses a forged count before allocating for it, an unknown head, a number too long', () => {
    expect(() => decodeCompact(Buffer.alloc(10), 2 ** 40, 1)).toThrow(/cannot hold/);
    expect(() => decodeCompact(Buffer.of(100, 0, 0, 0, 0), 1, 1)).toThrow(/unknown head byte 100/);
    expect(() => decodeCompact(Buffer.of(0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1, 0, 0, 0), 1, 1)).toThrow(
      /too long/,
    );
  });

  it('will not encode what it cannot decode', () => {
    const c = columnsOf(
      [{ lineGap: 1, amount: 2 ** 53, tx: 1, client: 1, rejected: false, kindOrReason: 0, type: 0 }],
      1,
    );
    expect(() => encodeCompact(c, 1, 1)).toThrow(/amount/);
    c.amounts[0] = 5;
    c.types[0] = 5;
    expect(() => encodeCompact(c, 1, 1)).toThrow(/type/);
  });
});
