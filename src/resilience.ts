/**
 * Every retry and breaker of the program, from one policy library (cockatiel): exponential backoff
 * with full jitter to a cap, so that many clients that failed together do not retry together; and a
 * circuit breaker that opens on failures in a row, so a node that cannot reach a server stops
 * claiming work and says so (not ready) instead of hammering it.
 */
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  halfJitterGenerator,
  handleAll,
  handleWhen,
  noJitterGenerator,
  retry,
  type CircuitBreakerPolicy,
  type IBackoff,
  type RetryPolicy,
} from 'cockatiel';

export interface BackoffPolicy {
  /** The ceiling of the first retry's delay; each further retry doubles it. */
  readonly firstMs: number;
  /** The ceiling never grows past this. */
  readonly maxMs: number;
}

/** Full jitter: uniform below the ceiling; half: in its upper half (a spread that still waits); false: the ceiling. */
export type Jitter = boolean | 'half';

const exponential = (policy: BackoffPolicy, jitter: Jitter) =>
  new ExponentialBackoff({
    initialDelay: policy.firstMs,
    maxDelay: policy.maxMs,
    generator: jitter === 'half' ? halfJitterGenerator : jitter ? fullJitterGenerator : noJitterGenerator,
  });

/**
 * Retries what fails with an error `retryable` accepts, without bound on attempts (the caller's
 * predicate bounds them, e.g. by elapsed time), waiting the full-jitter backoff between attempts.
 */
export function retryPolicy(policy: BackoffPolicy, retryable: (error: unknown) => boolean): RetryPolicy {
  return retry(handleWhen(retryable), { backoff: exponential(policy, true) });
}

/**
 * Successive delays of a backoff for a loop that waits by itself (a refused publish, a lagging
 * shard): `next()` gives the next delay in milliseconds; `jitter: false` gives the ceilings.
 */
export function backoffDelays(policy: BackoffPolicy, jitter: Jitter = true): { next(): number } {
  let state: IBackoff<unknown> | undefined;
  return {
    next() {
      state = state === undefined ? exponential(policy, jitter).next() : state.next(undefined as never);
      return state.duration;
    },
  };
}

/** The delay of retry `attempt` (0 for the first retry) of a backoff, jittered unless `jitter` is false. */
export function backoffMs(attempt: number, policy: BackoffPolicy, jitter: Jitter = true): number {
  const delays = backoffDelays(policy, jitter);
  let delay = delays.next();
  for (let i = 0; i < Math.min(Math.max(0, Math.floor(attempt)), 64); i++) delay = delays.next();
  return delay;
}

export interface BreakerSettings {
  /** Failures in a row that open it. */
  readonly failures: number;
  /** How long it stays open before one call may try again (half-open). */
  readonly halfOpenAfterMs: number;
}

/** A circuit breaker over any failure: open after `failures` in a row, half-open after `halfOpenAfterMs`. */
export function breakerPolicy(settings: BreakerSettings): CircuitBreakerPolicy {
  return circuitBreaker(handleAll, {
    halfOpenAfter: settings.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(settings.failures),
  });
}
