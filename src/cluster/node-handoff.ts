/**
 * A stopping node's handoff (node.ts shutdown) and the wakeable tick that lets a successor claim a
 * released shard at once rather than at its next tick.
 */
import type { Logger } from 'pino';
import { tickMsMin } from '../constants.js';
import type { ShardRunner } from './shard-runner.js';

/** The node's sleep between ticks, cut short by wake() (a lease released somewhere: claim it now). */
export class TickTimer {
  private woken = false;
  private resolve: (() => void) | undefined;

  wake(): void {
    this.woken = true;
    this.resolve?.();
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    // A wake during the tick (the claim may have missed the release) starts the next one at once.
    if (this.woken || signal.aborted) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.resolve = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.resolve = done;
    });
  }
}

export interface HandoffSteps {
  /** The runners to hand over (all the node's). */
  readonly runners: Map<string, ShardRunner>;
  /** Renews the leases of the runners still in the map (and those handing over). */
  readonly renew: () => Promise<void>;
  /** Gives a stopped runner's lease back (after it left the map, so it is not renewed again). */
  readonly release: (runner: ShardRunner) => Promise<void>;
  readonly log: Logger;
  /** Stops and releases already under way (a rebalancing, a lost lease). */
  readonly pending: () => Iterable<Promise<void>>;
}

/**
 * Hands every shard over: each one's lease stays renewed until its runner has stopped (applied the
 * batch in flight, written its final snapshot) and is then released at once, each on its own, so a
 * successor claims it without waiting for the node's other shards.
 */
export async function handOverAll(steps: HandoffSteps): Promise<void> {
  let stopped = false;
  const renewing = (async () => {
    for (; !stopped; await new Promise((resolve) => setTimeout(resolve, tickMsMin)))
      await steps.renew().catch(() => undefined);
  })();
  await Promise.all(
    [...steps.runners].map(async ([key, runner]) => {
      const t0 = performance.now();
      await runner.stop(true).catch(() => undefined);
      steps.runners.delete(key);
      if (runner.status.kind !== 'finished') await steps.release(runner).catch(() => undefined);
      const { run, shard } = runner.claim;
      steps.log.info({ run, shard, stopMs: Math.round(performance.now() - t0) }, 'shard released (node stopping)');
    }),
  );
  await Promise.allSettled([...steps.pending()]);
  stopped = true;
  await renewing;
}
