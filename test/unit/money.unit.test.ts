import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUnits, invalidAmount, parseAmountUnits, unitsMax } from '../../src/domain/money.js';
import { formatUnitsDecimal, parseAmountUnitsDecimal } from '../../src/domain/money-reference.js';

describe('parseAmountUnits (SPEC amount grammar)', () => {
  it.each([
    ['5', 50000],
    ['5.', 50000],
    ['.5', 5000],
    ['5.1234', 51234],
    ['1.50000', 15000],
    ['007.5', 75000],
    ['0.0001', 1],
    ['900719925474.0991', unitsMax],
    ['900719925474.09910000', unitsMax],
  ])('reads %s as %d minor units', (text, units) => expect(parseAmountUnits(text)).toBe(units));

  it.each([
    '',
    '.',
    '0',
    '0.0000',
    '-5',
    '+5',
    '1e3',
    '1,000',
    '1.23456',
    '1.00001',
    ' 5',
    '5 ',
    'abc',
    '1.2.3',
    '900719925474.0992',
    '99999999999999999999',
    'NaN',
    'Infinity',
    '0x10',
    '５',
  ])('rejects %j', (text) => expect(parseAmountUnits(text)).toBe(invalidAmount));

  it('agrees with the decimal.js reference on any digit/dot string', () => {
    const amountLike = fc.stringMatching(/^[0-9]{0,14}\.?[0-9]{0,8}$/);
    fc.assert(
      fc.property(fc.oneof(amountLike, fc.string({ maxLength: 12 })), (text) => {
        expect(parseAmountUnits(text)).toBe(parseAmountUnitsDecimal(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('reads a range of a longer string', () => expect(parseAmountUnits('x, 12.5,', 3, 7)).toBe(125000));
});

describe('formatUnits', () => {
  it.each([
    [0, '0.0000'],
    [15000, '1.5000'],
    [-25000, '-2.5000'],
    [1, '0.0001'],
    [-1, '-0.0001'],
    [unitsMax, '900719925474.0991'],
    [-unitsMax, '-900719925474.0991'],
  ])('formats %d as %s', (units, text) => expect(formatUnits(units)).toBe(text));
  it('agrees with the decimal.js reference on every kind of safe integer', () => {
    for (const units of [0, -0, 9999, -9999, 10000, -10000, 10001, unitsMax - 1, 2 ** 52, -(2 ** 52) - 1])
      expect(formatUnits(units)).toBe(formatUnitsDecimal(units));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -unitsMax, max: unitsMax }),
          fc.integer({ min: -99_999, max: 99_999 }),
          // just below and above multiples of 10,000 near 2^53, where a float division would round
          fc.integer({ min: 1, max: Math.floor(unitsMax / 10_000) }).map((k) => k * 10_000 - 1),
        ),
        (units) => {
          expect(formatUnits(units)).toBe(formatUnitsDecimal(units));
        },
      ),
      { numRuns: 2000 },
    );
  });
  it('refuses a balance that is not a safe integer', () => {
    for (const bad of [0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => formatUnits(bad)).toThrow(/not an exact count/);
  });
  it('round-trips with the parser', () =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: unitsMax }), (units) => {
        expect(parseAmountUnits(formatUnits(units))).toBe(units);
      }),
    ));
});
