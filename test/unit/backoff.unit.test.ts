/** The one retry-delay helper: exponential ceilings to a cap, full jitter below them. */
import { describe, expect, it } from 'vitest';
import { backoffCeilingMs, backoffMs } from '../../src/backoff.js';

const policy = { firstMs: 100, maxMs: 2000 };

describe('backoff', () => {
  it('doubles the ceiling each attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffCeilingMs(a, policy))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000,
    ]);
  });

  it('stays at the cap for any number of attempts (no Infinity, no NaN)', () => {
    expect(backoffCeilingMs(1024, policy)).toBe(2000);
    expect(backoffCeilingMs(Number.MAX_SAFE_INTEGER, policy)).toBe(2000);
    expect(backoffMs(5000, policy, () => 0.5)).toBe(1000);
  });

  it('treats a negative or fractional attempt as the whole attempt below it, never below the first', () => {
    expect(backoffCeilingMs(-3, policy)).toBe(100);
    expect(backoffCeilingMs(2.9, policy)).toBe(400);
  });

  it('scales the ceiling by the random source (full jitter), deterministically when given one', () => {
    expect(backoffMs(0, policy, () => 0)).toBe(0);
    expect(backoffMs(2, policy, () => 0.25)).toBe(100);
    expect(backoffMs(10, policy, () => 0.999)).toBeCloseTo(1998);
  });

  it('draws from Math.random by default, within [0, ceiling)', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffMs(3, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(800);
    }
  });
});
