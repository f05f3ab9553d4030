/**
 * Keeps shardThreadsSpare idle shard threads ready: a thread that starts when a shard is claimed
 * loads the engine and pg first (1-3 s of a takeover on a loaded 2-core machine), then runs its first
 * rows in the interpreter. The pool has no call to start a thread; it starts one for a task that
 * finds none idle. So when fewer than the spares are idle, as many warm tasks as there are spares
 * are run together, and each holds its thread until all have one (warmTogether): the idle threads
 * take some, the pool starts threads for the rest, and all end idle. A claim meanwhile ends the
 * wait at once (release), so the threads held are free for it. Each thread then warms up
 * (thread-warm-up.ts: at once on an idle node, a few seconds later on a busy one) and stays idle
 * up to shardThreadIdleMs.
 */
import type { Piscina } from 'piscina';
import { shardThreadsMax, shardThreadsSpare, warmUpDelayMs } from '../constants.js';
import type { WarmTask } from './shard-protocol.js';

/** How long a warm task waits for the others of its group (a pool that cannot start more threads). */
export const warmTogetherMaxMs = 5_000;

export class SpareThreads {
  private warming = 0;
  /** The count shared by the group of warm tasks under way, if any. */
  private group: Int32Array | undefined;

  /** Ends the wait of the group under way: its threads are idle again at once (a claim needs one). */
  release(): void {
    if (this.group === undefined) return;
    Atomics.store(this.group, 0, shardThreadsMax + 1);
    Atomics.notify(this.group, 0);
  }

  /** Makes sure `spares` threads are idle besides the `busy` shards' (at most shardThreadsMax in all). */
  keep(pool: Piscina | undefined, busy: number, spares = shardThreadsSpare): void {
    if (pool === undefined || this.warming > 0) return;
    const threads = pool.threads.length;
    if (threads - busy >= spares || threads >= shardThreadsMax) return;
    const together = Math.min(spares, shardThreadsMax - busy);
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    this.group = arrived;
    // Threads started while the node runs shards come with claims: their warm-up waits.
    const warm: WarmTask = { warm: true, warmUpAfterMs: busy === 0 ? 0 : warmUpDelayMs, arrived, together };
    for (let i = 0; i < together; i++) {
      this.warming++;
      void pool
        .run(warm)
        .catch(() => undefined)
        .finally(() => {
          if (--this.warming === 0) this.group = undefined;
        });
    }
  }
}

/**
 * A warm task's wait for the others of its group, in the worker: it blocks the thread (which has
 * nothing else to do) until `together` tasks have arrived, or warmTogetherMaxMs.
 */
export function warmTogether(task: WarmTask): void {
  const { arrived, together } = task;
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  const deadline = Date.now() + warmTogetherMaxMs;
  for (let seen = Atomics.load(arrived, 0); seen < together; seen = Atomics.load(arrived, 0)) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    Atomics.wait(arrived, 0, seen, left);
  }
}
