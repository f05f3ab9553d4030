/**
 * The decimal.js references of money.ts: the same contracts, computed by a decimal library. The
 * property tests hold the hand-written conversions to these, and test helpers build amounts with
 * them. Kept apart so that the engine's threads, which never need decimal.js, do not load it.
 */
import { Decimal } from 'decimal.js';
import { fractionDigits, invalidAmount, unitsMax, unitsPerWhole } from './money.js';

const amountGrammar = /^(?:\d+\.?\d*|\.\d+)$/;

/** The reference conversion with decimal.js: same contract as parseAmountUnits. */
export function parseAmountUnitsDecimal(text: string): number {
  if (!amountGrammar.test(text)) return invalidAmount;
  const units = new Decimal(text).times(unitsPerWhole);
  if (!units.isInteger() || units.lte(0) || units.gt(unitsMax)) return invalidAmount;
  return units.toNumber();
}

/** The reference formatting with decimal.js: same contract as formatUnits. */
export function formatUnitsDecimal(units: number): string {
  if (!Number.isSafeInteger(units)) throw new Error(`balance ${units} is not an exact count of minor units`);
  return new Decimal(units === 0 ? 0 : units).dividedBy(unitsPerWhole).toFixed(fractionDigits);
}

/** Minor units from a decimal string, for tests (exact, via decimal.js). */
export function unitsOf(text: string): number {
  return new Decimal(text).times(unitsPerWhole).toNumber();
}
