/**
 * A network partition: one node runs in its own network namespace, the other on the host. Mid-run
 * the namespace's link is cut for longer than the lease (its sessions stay open on the server: no
 * reset, no pg_terminate_backend), the host node takes its shards, then the link is healed. The
 * cut-off node's late commits are refused by the fence, and counted in its metrics; the run ends
 * with the single-process output, every row once. Needs root (ip netns); skipped otherwise.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  journalCounts,
  leases,
  logLines,
  runningWithBatches,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type World,
} from '../helpers/cluster.js';
import { createNetns, cut, fetchInside, heal, netnsUnavailable, removeNetns, type Netns } from '../helpers/netns.js';

const unavailable = netnsUnavailable();
const leaseMs = 2000;

/** The value of an unlabelled counter in a Prometheus text page (0 when absent). */
function counter(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe.skipIf(unavailable !== undefined)(
  `cluster partition${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let netns: Netns | undefined;
    let world: World | undefined;

    beforeAll(async () => {
      netns = createNetns();
      world = await startWorld({ host: netns.hostAddress });
    });
    afterAll(async () => {
      if (netns) heal(netns);
      await stopWorld(world);
      if (netns) removeNetns(netns);
    });

    it('a node cut off past its lease loses its shards; healed, its late commits are fenced and counted', async () => {
      const w = world!;
      const ns = netns!;
      const inside = startNode(w, 'ns1', {
        leaseMs,
        wrap: ns.exec,
        journal: w.journal.replace('@127.0.0.1:', `@${ns.hostAddress}:`),
        extra: ['--http', '0'],
      });
      const outside = startNode(w, 'host1', { leaseMs });
      const expected = await expectedRun(w, 'part', 600_000, 41);
      const detached = spawnSubmit(w, [expected.input, '--run', 'part', '--detach']);

      // Cut while the namespaced node runs shards with batches committed (as seen after the cut).
      let held: { shard: number; generation: number }[] = [];
      while (held.length === 0) {
        await until(async () => (await runningWithBatches(w, 'part', 'ns1')).length > 0);
        cut(ns);
        held = await runningWithBatches(w, 'part', 'ns1');
        if (held.length === 0) heal(ns);
      }
      // The host node takes each of them over once its lease has run out: a newer generation.
      await until(async () => {
        const now = await leases(w, 'part');
        return held.every((h) =>
          now.some((l) => l.shard === h.shard && l.node === 'host1' && l.generation > h.generation),
        );
      });
      heal(ns);

      const port = logLines(inside).find((l) => l.msg === 'node joined')?.http as number;
      const fenced = () =>
        counter(fetchInside(ns, `http://127.0.0.1:${port}/metrics`), 'payments_node_fenced_commits_total');
      // Back on the network, the node commits what it had in hand with its old generation: refused.
      await until(() => fenced() > 0);
      // …and says so in its log (polled: the line may still be in the pipe when the metric is read).
      await until(() =>
        logLines(inside).some(
          (l) => l.msg === 'commit refused by the fence' && /\bfenced: shard \d+ of run part\b/.test(String(l.err)),
        ),
      );

      expect((await detached.result).code).toBe(0);
      const rejects = join(w.dir, 'part.rejects.csv');
      const got = await submit(w, [expected.input, '--run', 'part', '--rejects', rejects]);
      expect(got.code).toBe(0);
      expect(got.stdout).toBe(expected.accounts);
      expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
      expect(await journalCounts(w, 'part')).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
      await inside.kill('SIGTERM');
      await outside.kill('SIGTERM');
    });
  },
);
