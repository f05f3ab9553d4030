/**
 * Money is an exact count of minor units (1 unit = 0.0001). A JS number holds every integer below
 * 2^53 exactly, so balances are plain numbers that must stay within ±unitsMax.
 */
export const unitsPerWhole = 10_000;
export const fractionDigits = 4;
export const unitsMax = Number.MAX_SAFE_INTEGER; // 2^53 - 1 minor units = 900,719,925,474.0991

/** Returned by parseAmountUnits when the text is not a valid amount. */
export const invalidAmount = -1;

const code0 = 48;
const code9 = 57;
const codeDot = 46;
/** Largest whole part that can still be below 2^53 minor units. */
const wholeMax = Math.floor(unitsMax / unitsPerWhole);

/**
 * Parses SPEC's amount grammar (`5`, `5.`, `.5`, `5.1234`, `1.50000`) into minor units, or returns
 * `invalidAmount`. Digits only: no sign, exponent or separator; fraction digits past the fourth must
 * be zeros; the result must be > 0 and < 2^53.
 *
 * Written by hand because it runs once per row on the parsing thread, where decimal.js was the
 * largest cost after papaparse itself (see README, "Performance"). It is checked against
 * `parseAmountUnitsDecimal` (money-reference.ts), the decimal.js reference, by a property test. Its bytes twin,
 * parseAmountBytes below, is the same grammar: change both or neither.
 */
export function parseAmountUnits(text: string, start = 0, end = text.length): number {
  const n = end;
  let i = start;
  let whole = 0;
  let digits = 0;
  let c = 0;
  for (; i < n; i++) {
    c = text.charCodeAt(i);
    if (c < code0 || c > code9) break;
    whole = whole * 10 + (c - code0); // exact while below 2^53; beyond that it is rejected anyway
    digits++;
  }
  let fraction = 0;
  if (i < n) {
    if (c !== codeDot) return invalidAmount;
    i++;
    let place = 0;
    for (; i < n; i++) {
      c = text.charCodeAt(i);
      if (c < code0 || c > code9) return invalidAmount;
      digits++;
      if (place < fractionDigits) {
        fraction = fraction * 10 + (c - code0);
        place++;
      } else if (c !== code0) {
        return invalidAmount; // would need rounding
      }
    }
    for (; place < fractionDigits; place++) fraction *= 10;
  }
  if (digits === 0) return invalidAmount;
  if (whole > wholeMax) return invalidAmount;
  const units = whole * unitsPerWhole + fraction;
  if (units <= 0 || units > unitsMax) return invalidAmount;
  return units;
}

/**
 * parseAmountUnits over bytes (ASCII text the reader kept as bytes): the same grammar, line for line,
 * with `bytes[i]` for `text.charCodeAt(i)`. It is a twin rather than one function because the
 * parsing thread's one-pass scanner reads a typed array, where an indexed read is a plain load,
 * while decoded rows (quotes, non-ASCII) are strings. A property test (money-bytes.unit.test.ts)
 * holds them to the same answer on random and edge inputs: change both or neither.
 */
export function parseAmountBytes(bytes: Uint8Array, start: number, end: number): number {
  const n = end;
  let i = start;
  let whole = 0;
  let digits = 0;
  let c = 0;
  for (; i < n; i++) {
    c = bytes[i]!;
    if (c < code0 || c > code9) break;
    whole = whole * 10 + (c - code0); // exact while below 2^53; beyond that it is rejected anyway
    digits++;
  }
  let fraction = 0;
  if (i < n) {
    if (c !== codeDot) return invalidAmount;
    i++;
    let place = 0;
    for (; i < n; i++) {
      c = bytes[i]!;
      if (c < code0 || c > code9) return invalidAmount;
      digits++;
      if (place < fractionDigits) {
        fraction = fraction * 10 + (c - code0);
        place++;
      } else if (c !== code0) {
        return invalidAmount; // would need rounding
      }
    }
    for (; place < fractionDigits; place++) fraction *= 10;
  }
  if (digits === 0) return invalidAmount;
  if (whole > wholeMax) return invalidAmount;
  const units = whole * unitsPerWhole + fraction;
  if (units <= 0 || units > unitsMax) return invalidAmount;
  return units;
}

/**
 * Formats minor units as a decimal with exactly four fraction digits (`-2.5000`).
 *
 * Integer arithmetic, by hand: every output balance goes through here, and decimal.js took ~4 µs a
 * value (65,535 accounts: 0.8 s of a run's tail, measured). Exact for every safe integer: `%` of
 * two integers is exact, and so is dividing the multiple of 10,000 that is left. Checked against
 * `formatUnitsDecimal` (money-reference.ts), the decimal.js reference, by a property test.
 */
export function formatUnits(units: number): string {
  if (!Number.isSafeInteger(units)) throw new Error(`balance ${units} is not an exact count of minor units`);
  const abs = Math.abs(units);
  const fraction = abs % unitsPerWhole;
  const whole = (abs - fraction) / unitsPerWhole;
  return `${units < 0 ? '-' : ''}${whole}.${fractionText[fraction]}`;
}

/** The four fraction digits of 0…9999, zero-padded (built once: 10,000 short strings). */
const fractionText = Array.from({ length: unitsPerWhole }, (_, n) => String(n).padStart(fractionDigits, '0'));

export function inRange(units: number): boolean {
  return units >= -unitsMax && units <= unitsMax;
}
