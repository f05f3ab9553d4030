/**
 * Keeps shardThreadsSpare idle shard threads ready: a thread that starts when a shard is claimed
 * loads the engine and pg first (1-3 s of a takeover on a loaded 2-core machine), then runs its first
 * rows in the interpreter. A warm task makes the pool start a thread (all threads busy), which loads
 * the modules and warms up (thread-warm-up.ts: at once on an idle node, a few seconds later on a
 * busy one); the thread then stays idle shardThreadIdleMs.
 */
import type { Piscina } from 'piscina';
import { shardThreadsMax, shardThreadsSpare, warmUpDelayMs } from '../constants.js';
import type { WarmTask } from './shard-protocol.js';

export class SpareThreads {
  private warming = 0;

  /** Starts threads until `busy` shards plus the spares have one (at most shardThreadsMax). */
  keep(pool: Piscina | undefined, busy: number): void {
    if (pool === undefined || this.warming > 0) return;
    const missing = Math.min(busy + shardThreadsSpare, shardThreadsMax) - pool.threads.length;
    // Threads started while the node runs shards come with claims: their warm-up waits.
    const warm: WarmTask = { warm: true, warmUpAfterMs: busy === 0 ? 0 : warmUpDelayMs };
    for (let i = 0; i < missing; i++) {
      this.warming++;
      void pool
        .run(warm)
        .catch(() => undefined)
        .finally(() => this.warming--);
    }
  }
}
