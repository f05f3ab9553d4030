/**
 * A node runs its owned shards on the shard threads it started with (several to a thread), and its
 * main thread (heartbeats, lease renewals) is not held up by the engines: with a short lease and every shard busy, no lease
 * is lost (a lease that ran out would be claimed again, here by the only node, and its generation
 * would move past 1). Real nats-server and PostgreSQL, `payments node` and `payments submit`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  leases,
  logLines,
  nodeHttp,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type Expected,
  type World,
} from '../helpers/cluster.js';

describe('cluster: shards in worker threads', () => {
  let world: World;
  let input: Expected;

  beforeAll(async () => {
    world = await startWorld();
    input = await expectedRun(world, 'threads', 200_000, 31);
  });
  afterAll(() => stopWorld(world));

  it('8 shards share the 2 shard threads, and a node with busy shards keeps every lease', async () => {
    // A lease of 1 s (ticks of 333 ms) while one node runs all 8 shards.
    const node = startNode(world, 'w', { leaseMs: 1000, extra: ['--http', '0', '--threads', '2'] });
    const got = await submit(world, [input.input, '--run', 'th1', '--shards', '8']);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(input.accounts);

    const lines = logLines(node);
    const recovered = lines.filter((l) => l.msg === 'shard claimed and recovered');
    expect(recovered.map((l) => l.shard).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // threadId 0 is the main thread: every shard ran in a worker, on one of the node's two.
    for (const l of recovered) expect(l.thread).toBeGreaterThan(0);
    expect(new Set(recovered.map((l) => l.thread)).size).toBe(2);
    expect(lines.filter((l) => /lease lost|shard failed|did not stop/.test(String(l.msg)))).toEqual([]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    // node-postgres warns when a client is given a query while others wait (control calls at once).
    expect(node.stderr).not.toMatch(/DeprecationWarning/);
    const held = await leases(world, 'th1');
    expect(held.every((l) => l.node === 'w' && l.generation === 1 && l.finished)).toBe(true);

    // The node counts a shard finished just after its lease says so (which is what submit waits for).
    const allFinished = /^payments_node_ownership_changes_total\{change="finished"\} 8$/m;
    await until(async () => allFinished.test((await nodeHttp(node)).metrics), {
      ms: 10_000,
      what: 'the node to count all 8 shards finished',
    });
    const { metrics, ready } = await nodeHttp(node);
    expect(ready).toBe(200);
    expect(metrics).toMatch(/^payments_node_shard_threads 2$/m);
    expect(metrics).toMatch(/^payments_node_ownership_changes_total\{change="claimed"\} 8$/m);
    expect(metrics).toMatch(/^payments_node_ownership_changes_total\{change="finished"\} 8$/m);
    expect(metrics).not.toMatch(/change="(lost|failed)"\} [1-9]/);
    // Finished shards left the node: their series are removed (labels stay bounded). The cluster
    // view (payments_cluster_*) follows the runs themselves, refreshed every 2 s.
    expect(metrics).not.toMatch(/^payments_node_\w+\{run="th1"/m);
    expect(metrics).toMatch(/^payments_node_ready 1$/m);
  });

  it('a node stopped with SIGTERM mid-run gives its shards back at once; another finishes them', async () => {
    const first = world.nodes.find((n) => n.id === 'w')!;
    const detached = await submit(world, [input.input, '--run', 'th2', '--shards', '4', '--detach']);
    expect(detached.code).toBe(0);
    // Stopped while its shards' workers are mid-run: each worker is stopped, its partition closed,
    // its lease released (expires_at = -infinity) for the next node to claim at once.
    await until(() => logLines(first).some((l) => l.msg === 'shard claimed and recovered' && l.run === 'th2'));
    await first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(logLines(first).filter((l) => l.level === 'error')).toEqual([]);
    startNode(world, 'w2', { leaseMs: 1000 });
    const got = await submit(world, [input.input, '--run', 'th2']);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(input.accounts);
    expect((await leases(world, 'th2')).every((l) => l.finished)).toBe(true);
  });
});
