/**
 * Keeps shardThreadsSpare idle shard threads ready: a thread that starts when a shard is claimed
 * loads the engine and pg first (1-3 s of a takeover on a loaded 2-core machine), then runs its first
 * rows in the interpreter. The pool has no call to start a thread; it starts one for a task that
 * finds none idle. So when fewer than the spares are idle, as many warm tasks as there are spares
 * are run together, and each holds its thread until all have one (warmTogether): the idle threads
 * take some, the pool starts threads for the rest, and all end idle. A claim meanwhile ends the
 * wait at once (release) and runs its task once the threads held are idle again. Each thread then warms up
 * (thread-warm-up.ts: at once on an idle node, a few seconds later on a busy one) and stays idle
 * up to shardThreadIdleMs.
 */
import { Piscina } from 'piscina';
import {
  shardThreadIdleMs,
  shardThreadsMax,
  shardThreadsSpare,
  warmUpDelayMs,
  workerYoungGenerationMb,
} from '../constants.js';
import type { WarmTask } from './shard-protocol.js';

/** How long a warm task waits for the others of its group (a pool that cannot start more threads). */
export const warmTogetherMaxMs = 5_000;
/** How long a claim waits for the threads a group held to be idle again (a reply takes a few ms). */
export const releaseWaitMaxMs = 200;

/** A node's pool of shard threads: one long-running task (a shard's engine) per thread. */
export function shardThreadPool(): Piscina {
  return new Piscina({
    filename: new URL('./shard-worker.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: shardThreadsMax,
    concurrentTasksPerWorker: 1,
    idleTimeout: shardThreadIdleMs,
    // The event loop runs between tasks too (a task's last socket closes after it returns).
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb },
  });
}

/** A group of warm tasks under way. */
interface WarmGroup {
  /** Tasks that reached their thread (the workers count themselves in). */
  readonly arrived: Int32Array;
  readonly together: number;
  /** Tasks of the group that have returned. */
  settled: number;
  /** Tasks that held a thread when the group was released: those threads are what a claim waits for. */
  held: number | undefined;
  readonly waiting: Array<() => void>;
}

export class SpareThreads {
  private warming = 0;
  private group: WarmGroup | undefined;

  /**
   * Ends the wait of the group under way, and resolves once the threads it held are idle again
   * (at most releaseWaitMaxMs). A task run before then finds no idle thread: the pool would start
   * a new one for it, and place it on that thread, still loading, rather than on one freed a
   * moment later (its balancer takes the threads that are starting first).
   */
  release(): Promise<void> {
    const group = this.group;
    if (group === undefined) return Promise.resolve();
    if (group.held === undefined) {
      group.held = Math.min(Atomics.load(group.arrived, 0), group.together);
      Atomics.store(group.arrived, 0, shardThreadsMax + 1);
      Atomics.notify(group.arrived, 0);
    }
    if (group.settled >= group.held) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, releaseWaitMaxMs);
      group.waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Makes sure `spares` threads are idle besides the `busy` shards' (at most shardThreadsMax in all). */
  keep(pool: Piscina | undefined, busy: number, spares = shardThreadsSpare): void {
    if (pool === undefined || this.warming > 0) return;
    const threads = pool.threads.length;
    if (threads - busy >= spares || threads >= shardThreadsMax) return;
    const together = Math.min(spares, shardThreadsMax - busy);
    const group: WarmGroup = {
      arrived: new Int32Array(new SharedArrayBuffer(4)),
      together,
      settled: 0,
      held: undefined,
      waiting: [],
    };
    this.group = group;
    // Threads started while the node runs shards come with claims: their warm-up waits.
    const warm: WarmTask = {
      warm: true,
      warmUpAfterMs: busy === 0 ? 0 : warmUpDelayMs,
      arrived: group.arrived,
      together,
    };
    for (let i = 0; i < together; i++) {
      this.warming++;
      void pool
        .run(warm)
        .catch(() => undefined)
        .finally(() => {
          group.settled++;
          if (--this.warming === 0) this.group = undefined;
          // (The pool marks a thread idle before the task's promise settles.)
          if (this.group !== group || (group.held !== undefined && group.settled >= group.held))
            for (const wake of group.waiting.splice(0)) wake();
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
