/** Retry delays: exponential growth to a cap, with full jitter (every retrier of the program uses this). */

export interface BackoffPolicy {
  /** The ceiling of the first retry's delay; each further retry doubles it. */
  readonly firstMs: number;
  /** The ceiling never grows past this. */
  readonly maxMs: number;
}

/** Past this many doublings every ceiling is at its cap (2^40 ms is decades), and 2 ** attempt stays finite. */
const doublingsMax = 40;

/** The ceiling of retry `attempt` (0 for the first retry): firstMs × 2^attempt, at most maxMs. */
export function backoffCeilingMs(attempt: number, policy: BackoffPolicy): number {
  const doublings = Math.min(Math.max(0, Math.floor(attempt)), doublingsMax);
  return Math.min(policy.maxMs, policy.firstMs * 2 ** doublings);
}

/**
 * The delay before retry `attempt`: uniform in [0, ceiling) ("full jitter"), so that many clients
 * that failed together do not retry together. `random` is Math.random unless a test gives its own.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return random() * backoffCeilingMs(attempt, policy);
}
