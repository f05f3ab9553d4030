/**
 * What a node does beside its shards, from its tick: now and then, refreshes its view of the
 * cluster for its metrics (unowned shards, overdue runs, quarantines lifted) and deletes what
 * expired (expiry.ts). A failure here is logged and left to the next
 * pass: it never fails the tick (which renews the leases).
 */
import type { Logger } from 'pino';
import { clusterViewEveryMs, expiryEveryMs } from '../constants.js';
import { describeError } from '../errors.js';
import type { ClusterControl } from './control.js';
import type { NodeMetrics } from './node-metrics.js';

export class NodeUpkeep {
  private lastViewMs = -Infinity;
  private lastExpiryMs = -Infinity;

  constructor(
    private readonly control: ClusterControl,
    private readonly serial: <T>(call: () => Promise<T>) => Promise<T>,
    private readonly metrics: NodeMetrics,
    private readonly log: Logger,
    private readonly expireMs: number,
  ) {}

  async due(): Promise<void> {
    const now = performance.now();
    try {
      if (now - this.lastViewMs >= clusterViewEveryMs) {
        this.lastViewMs = now;
        this.metrics.view(await this.serial(() => this.control.clusterView()));
      }
      if (now - this.lastExpiryMs >= expiryEveryMs) {
        this.lastExpiryMs = now;
        const expired = await this.serial(() => this.control.expire(this.expireMs));
        if (expired.runs.length > 0 || expired.nodes > 0)
          this.log.info({ runs: expired.runs, nodes: expired.nodes }, 'expired runs and nodes deleted');
      }
    } catch (error) {
      this.log.warn({ err: describeError(error) }, 'cluster view or expiry failed; next pass');
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
