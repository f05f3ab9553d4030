/**
 * parseAmountBytes is parseAmountUnits over bytes (the parsing thread's one-pass scanner reads
 * bytes): one grammar written twice, so this holds them to the same answer on any input, at any
 * offset inside a longer buffer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invalidAmount, parseAmountBytes, parseAmountUnits, unitsMax } from '../../src/domain/money.js';

/** The bytes twin on `text` placed inside other bytes, so start/end offsets matter. */
function viaBytes(text: string, before = 'x,', after = ',9'): number {
  const bytes = Buffer.from(before + text + after, 'latin1');
  return parseAmountBytes(bytes, before.length, before.length + text.length);
}

const edges = [
  '',
  '.',
  '0',
  '0.',
  '.0',
  '0.0000',
  '0.00001',
  '0.0001',
  '5',
  '5.',
  '.5',
  '5.1234',
  '1.50000',
  '1.00001',
  '007.5',
  '1.2.3',
  '-5',
  '+5',
  '1e3',
  ' 5',
  '5 ',
  '1,5',
  '900719925474.0991',
  '900719925474.09910000',
  '900719925474.0992',
  '900719925475',
  '99999999999999999999',
  '9'.repeat(400),
  `0.${'0'.repeat(30)}`,
  `1.${'0'.repeat(30)}1`,
  '\u0000',
  '/',
  ':',
];

describe('parseAmountBytes, the bytes twin of parseAmountUnits', () => {
  it.each(edges)('agrees on %j', (text) => expect(viaBytes(text)).toBe(parseAmountUnits(text)));

  it('reads the largest amount and refuses one unit more', () => {
    expect(viaBytes('900719925474.0991')).toBe(unitsMax);
    expect(viaBytes('900719925474.0992')).toBe(invalidAmount);
  });

  it('agrees on any ASCII string, amount-like or not, inside any surrounding bytes', () => {
    const amountLike = fc.stringMatching(/^[0-9]{0,16}\.?[0-9]{0,9}$/);
    const ascii = fc.string({
      unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)),
      maxLength: 14,
    });
    const nearDigits = fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '/', ':', '-', 'e', ' '), maxLength: 14 });
    fc.assert(
      fc.property(fc.oneof(amountLike, ascii, nearDigits), ascii, ascii, (text, before, after) => {
        expect(viaBytes(text, before, after)).toBe(parseAmountUnits(text));
      }),
      { numRuns: 20000 },
    );
  });
});
