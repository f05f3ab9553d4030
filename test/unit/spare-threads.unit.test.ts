/**
 * Ready shard threads (src/cluster/spare-threads.ts) on a real Piscina pool of the built shard
 * worker: a node that lacks idle threads ends with the spares it asks for, and asks for none more
 * once it has them.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { SpareThreads, warmTogetherMaxMs } from '../../src/cluster/spare-threads.js';

const worker = fileURLToPath(new URL('../../dist/cluster/shard-worker.js', import.meta.url));
const pool = new Piscina({
  filename: worker,
  minThreads: 1,
  maxThreads: 8,
  concurrentTasksPerWorker: 1,
  idleTimeout: 60_000,
});
afterAll(() => pool.destroy());

async function settled(spares: SpareThreads) {
  // keep() runs its tasks in the background; they end once every one of them has a thread.
  for (let i = 0; i < 200 && (spares as unknown as { warming: number }).warming > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 25));
}

describe('ready shard threads', () => {
  it('starts as many threads as the spares need, each task on a thread of its own', async () => {
    const spares = new SpareThreads();
    spares.keep(pool, 0, 4);
    await settled(spares);
    // Tasks that returned at once would have gone to the first thread, one after the other.
    expect(pool.threads.length).toBe(4);
  });

  it('asks for nothing while enough threads are idle, and tops up once shards take some', async () => {
    const spares = new SpareThreads();
    spares.keep(pool, 0, 4);
    await settled(spares);
    expect(pool.threads.length).toBe(4);
    spares.keep(pool, 0, 4);
    expect((spares as unknown as { warming: number }).warming).toBe(0);
    // Two shards take two of the four threads (stand-ins: tasks that wait for a group never complete).
    const held = { warm: true, warmUpAfterMs: 0, arrived: new Int32Array(new SharedArrayBuffer(4)), together: 99 };
    const shards = [pool.run(held), pool.run(held)];
    await new Promise((resolve) => setTimeout(resolve, 100));
    spares.keep(pool, 2, 4);
    await settled(spares);
    expect(pool.threads.length).toBe(6);
    Atomics.store(held.arrived, 0, 99); // the stand-ins end
    Atomics.notify(held.arrived, 0);
    await Promise.all(shards);
  });

  it('frees the threads held for a group at once when a claim needs one', async () => {
    // A pool of three threads cannot give a group of four a thread each: the group would wait.
    const small = new Piscina({ filename: worker, minThreads: 1, maxThreads: 3, idleTimeout: 60_000 });
    try {
      const spares = new SpareThreads();
      spares.keep(small, 0, 4);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((spares as unknown as { warming: number }).warming).toBeGreaterThan(0);
      const released = performance.now();
      await spares.release();
      await settled(spares);
      expect((spares as unknown as { warming: number }).warming).toBe(0);
      expect(performance.now() - released).toBeLessThan(warmTogetherMaxMs / 2);
    } finally {
      await small.destroy();
    }
  });

  it('a claim runs on a thread the group held, not on one the pool starts for it', async () => {
    const fresh = new Piscina({ filename: worker, minThreads: 1, maxThreads: 8, idleTimeout: 60_000 });
    try {
      const spares = new SpareThreads();
      spares.keep(fresh, 0, 3);
      await settled(spares);
      expect(fresh.threads.length).toBe(3);
      // Three more: the three idle threads are held while the pool starts three new ones.
      spares.keep(fresh, 0, 6);
      const group = (spares as unknown as { group: { arrived: Int32Array } }).group;
      for (let i = 0; i < 200 && Atomics.load(group.arrived, 0) < 3; i++) await new Promise((r) => setTimeout(r, 5));
      expect(Atomics.load(group.arrived, 0)).toBe(3);
      await spares.release();
      // Run at once, the task would find no idle thread and the pool would start a seventh.
      const claim = {
        warm: true,
        warmUpAfterMs: 60_000,
        arrived: new Int32Array(new SharedArrayBuffer(4)),
        together: 1,
      };
      await fresh.run(claim);
      expect(fresh.threads.length).toBe(6);
      await settled(spares);
    } finally {
      await fresh.destroy();
    }
  });

  it('a release with no group under way resolves at once', async () => {
    await new SpareThreads().release();
  });
});
