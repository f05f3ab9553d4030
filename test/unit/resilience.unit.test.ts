/** The one policy library's use: exponential full-jitter backoff to a cap, retries, the circuit breaker. */
import { BrokenCircuitError, CircuitState } from 'cockatiel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelays, backoffMs, breakerPolicy, retryPolicy } from '../../src/resilience.js';

const policy = { firstMs: 100, maxMs: 2000 };

afterEach(() => vi.restoreAllMocks());

describe('backoff', () => {
  it('doubles the ceiling each attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, policy, false))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000,
    ]);
  });

  it('stays at the cap for any number of attempts (no Infinity, no NaN)', () => {
    expect(backoffMs(1024, policy, false)).toBe(2000);
    expect(backoffMs(Number.MAX_SAFE_INTEGER, policy, false)).toBe(2000);
    const delays = backoffDelays(policy, false);
    for (let i = 0; i < 2000; i++) delays.next();
    expect(delays.next()).toBe(2000);
  });

  it('treats a negative or fractional attempt as the whole attempt below it, never below the first', () => {
    expect(backoffMs(-3, policy, false)).toBe(100);
    expect(backoffMs(2.9, policy, false)).toBe(400);
  });

  it('half jitter keeps each delay in the upper half of its ceiling', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffMs(2, policy, 'half');
      expect(delay).toBeGreaterThanOrEqual(200);
      expect(delay).toBeLessThan(400);
    }
  });

  it('draws each delay uniformly below its ceiling (full jitter)', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    expect([0, 1, 2, 5].map((a) => backoffMs(a, policy))).toEqual([50, 100, 200, 1000]);
    vi.restoreAllMocks();
    for (let i = 0; i < 100; i++) {
      const delay = backoffMs(3, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(800);
    }
  });
});

describe('retry policy', () => {
  const fast = { firstMs: 1, maxMs: 2 };

  it('retries what the predicate accepts, with the attempt number, until it succeeds', async () => {
    const attempts: number[] = [];
    const result = await retryPolicy(fast, (e) => (e as Error).message === 'lost').execute(({ attempt }) => {
      attempts.push(attempt);
      if (attempt < 3) throw new Error('lost');
      return 'done';
    });
    expect(result).toBe('done');
    expect(attempts).toEqual([0, 1, 2, 3]);
  });

  it('does not retry what the predicate refuses, and gives up once it refuses', async () => {
    let calls = 0;
    const other = retryPolicy(fast, (e) => (e as Error).message === 'lost');
    await expect(
      other.execute(() => {
        calls++;
        throw new Error('syntax');
      }),
    ).rejects.toThrow('syntax');
    expect(calls).toBe(1);
    let budget = 3;
    const bounded = retryPolicy(fast, () => budget-- > 0);
    await expect(
      bounded.execute(() => {
        calls++;
        throw new Error('lost');
      }),
    ).rejects.toThrow('lost');
    expect(calls).toBe(1 + 4);
  });
});

describe('circuit breaker', () => {
  it('opens after the failures in a row, refuses while open, half-opens after the pause, closes on success', async () => {
    let now = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const breaker = breakerPolicy({ failures: 3, halfOpenAfterMs: 1000 });
    const states: CircuitState[] = [];
    breaker.onStateChange((s) => states.push(s));
    const fail = () =>
      breaker.execute(() => {
        throw new Error('down');
      });
    await expect(fail()).rejects.toThrow('down');
    await expect(breaker.execute(() => 'up')).resolves.toBe('up'); // a success resets the count
    for (let i = 0; i < 3; i++) await expect(fail()).rejects.toThrow('down');
    expect(breaker.state).toBe(CircuitState.Open);
    let called = false;
    await expect(breaker.execute(() => (called = true))).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(called).toBe(false);
    now += 1001;
    await expect(breaker.execute(() => 'up again')).resolves.toBe('up again');
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(states).toEqual([CircuitState.Open, CircuitState.HalfOpen, CircuitState.Closed]);
  });
});
