/**
 * RecordBatchBuilder (src/journal/record-codec.ts): a record added from the engine's numbers
 * (addCodes, what the PostgreSQL partition's recordCodes takes) is stored exactly as the same
 * record added as an event or rejection object, in both codecs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventOf } from '../../src/domain/account.js';
import { RecordBatchBuilder } from '../../src/journal/record-codec.js';

const outcome = fc.record({
  eventCode: fc.integer({ min: -1, max: 4 }),
  reason: fc.integer({ min: 0, max: 14 }),
  lineGap: fc.integer({ min: 1, max: 1000 }),
  typeCode: fc.integer({ min: 0, max: 4 }),
  client: fc.integer({ min: 0, max: 65535 }),
  tx: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  amount: fc.maxSafeNat(),
});

type Outcome = typeof outcome extends fc.Arbitrary<infer T> ? T : never;

/** The same records into two builders: as objects, and as codes. */
function built(rows: readonly Outcome[], firstLine: number): [RecordBatchBuilder, RecordBatchBuilder] {
  const objects = new RecordBatchBuilder();
  const codes = new RecordBatchBuilder();
  let line = firstLine;
  for (const r of rows) {
    line += r.lineGap;
    const row = { line, typeCode: r.typeCode, client: r.client, tx: r.tx, amount: r.amount };
    if (r.eventCode < 0) objects.addRejection(r.reason, row);
    else objects.addEvent(eventOf(r.eventCode, r.client, r.tx, r.amount), row);
    codes.addCodes(r.eventCode, r.reason, line, r.typeCode, r.client, r.tx, r.amount);
  }
  return [objects, codes];
}

describe('a batch built from codes', () => {
  it('is the batch built from event and rejection objects, byte for byte', () => {
    fc.assert(
      fc.property(fc.array(outcome, { minLength: 1, maxLength: 3000 }), fc.nat(1000), (rows, firstLine) => {
        for (const codec of ['columns', 'compact'] as const) {
          const [objects, codes] = built(rows, firstLine);
          expect(codes.events).toBe(rows.filter((r) => r.eventCode >= 0).length);
          const a = objects.take(7, { end: 10, crc: 3 }, codec);
          const b = codes.take(7, { end: 10, crc: 3 }, codec);
          expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
          expect(b).toEqual(a);
        }
      }),
      { numRuns: 100 },
    );
  });
});
