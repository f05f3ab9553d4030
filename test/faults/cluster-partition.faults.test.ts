/**
 * A network partition: one node runs in its own network namespace, the other on the host. Mid-run
 * the namespace's link is cut for longer than the lease (its sessions stay open on the server: no
 * reset, no pg_terminate_backend), the host node takes its shards, then the link is healed. The
 * cut-off node's late commits are refused by the fence, and counted in its metrics (a cut that
 * finds it with nothing in hand is made again); the run ends with the single-process output, every
 * row once. Needs root (ip netns); skipped otherwise.
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
      // The whole run is published while the namespaced node runs every shard alone: it is behind,
      // with messages in hand, so a cut mostly finds it with a commit to make. A cut that finds it
      // with nothing in hand only makes it stop its shards once healed, with nothing to fence: the
      // cut is then made again (up to three times) once it runs shards again.
      const expected = await expectedRun(w, 'part', 6_000_000, 41);
      const detached = spawnSubmit(w, [expected.input, '--run', 'part', '--detach']);
      await until(() => logLines(inside).some((l) => l.msg === 'node joined'), { ms: 30_000, what: 'ns1 to join' });
      const port = logLines(inside).find((l) => l.msg === 'node joined')?.http as number;
      const fenced = () =>
        counter(fetchInside(ns, `http://127.0.0.1:${port}/metrics`), 'payments_node_fenced_commits_total');
      const stopped = () => logLines(inside).filter((l) => String(l.msg).startsWith('lease lost')).length;
      const tail = () =>
        logLines(inside)
          .slice(-12)
          .map((l) => `${String(l.msg)}${l.err ? ` (${String(l.err)})` : ''}`)
          .join(' | ');

      let outside: ReturnType<typeof startNode> | undefined;
      for (let cuts = 1; fenced() === 0; cuts++) {
        if (cuts > 3) throw new Error(`three cuts and no fenced commit; the node's log ends: ${tail()}`);
        // Cut while the namespaced node runs shards with batches committed (as seen after the cut).
        let held: { shard: number; generation: number }[] = [];
        while (held.length === 0) {
          await until(async () => (await runningWithBatches(w, 'part', 'ns1')).length > 0, {
            ms: 60_000,
            what: 'the namespaced node to run a shard with batches committed',
          });
          cut(ns);
          held = await runningWithBatches(w, 'part', 'ns1');
          if (held.length === 0) heal(ns);
        }
        const stoppedBefore = stopped();
        // A node on the host takes each of them over once its lease has run out: a newer generation.
        outside ??= startNode(w, 'host1', { leaseMs });
        await until(
          async () => {
            const now = await leases(w, 'part');
            return held.every((h) =>
              now.some((l) => l.shard === h.shard && l.node === 'host1' && l.generation > h.generation),
            );
          },
          { ms: 60_000, what: () => `the host node to take over shards ${held.map((h) => h.shard).join(', ')}` },
        );
        heal(ns);
        // Back on the network, the node commits what it had in hand with its old generation: refused
        // and counted. With nothing in hand, it finds its leases gone and stops those shards.
        await until(() => fenced() > 0 || stopped() >= stoppedBefore + held.length, {
          ms: 60_000,
          what: () => `the healed node to be fenced or to stop its shards; its log ends: ${tail()}`,
        });
      }
      // …and says so in its log (polled: the line may still be in the pipe when the metric is read).
      await until(
        () =>
          logLines(inside).some(
            (l) => l.msg === 'commit refused by the fence' && /\bfenced: shard \d+ of run part\b/.test(String(l.err)),
          ),
        { ms: 30_000, what: 'the healed node to log its refused commit' },
      );

      expect((await detached.result).code).toBe(0);
      const rejects = join(w.dir, 'part.rejects.csv');
      const got = await submit(w, [expected.input, '--run', 'part', '--rejects', rejects]);
      expect(got.code).toBe(0);
      expect(got.stdout).toBe(expected.accounts);
      expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
      expect(await journalCounts(w, 'part')).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
      await inside.kill('SIGTERM');
      await outside?.kill('SIGTERM');
    });
  },
);
