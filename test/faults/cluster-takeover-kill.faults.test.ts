/**
 * Takeover after a SIGKILL without waiting out the lease (well within the lease): the dead node's
 * sessions end with it, so another node claims its shards before their leases would have run out.
 * Both times come from the database (the lease's expires_at, the new lease's claimed_at).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  freezeMidRun,
  journalCounts,
  startNode,
  startWorld,
  stopWorld,
  spawnSubmit,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

/** Long enough that a claim before it runs out cannot be the lease's own expiry, even under load. */
const leaseMs = 20_000;

interface LeaseTimes {
  shard: number;
  node: string;
  generation: number;
  expiresAt: Date;
  claimedAt: Date;
}

const leaseTimes = (world: World, run: string): Promise<LeaseTimes[]> =>
  withDb(world, async (c) => {
    const r = await c.query(
      `SELECT shard, node, generation::int AS generation, expires_at AS "expiresAt", claimed_at AS "claimedAt"
         FROM payments_cluster.leases WHERE run = $1 ORDER BY shard`,
      [run],
    );
    return r.rows as LeaseTimes[];
  });

describe('takeover after SIGKILL', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('the shards of a killed node are claimed before their lease would have expired', async () => {
    const expected = await expectedRun(world, 'kill', 1_200_000, 41);
    startNode(world, 'a', { leaseMs });
    const victim = startNode(world, 'b', { leaseMs });
    // Caught while the run is being published (nodes keep up with the publisher: once published,
    // the run may be over).
    const detached = spawnSubmit(world, [expected.input, '--run', 'k1', '--detach']);
    const held = await freezeMidRun(world, victim, 'k1'); // stopped while it runs shards: then killed
    await victim.kill('SIGKILL');
    const before = new Map((await leaseTimes(world, 'k1')).map((l) => [l.shard, l]));
    await until(async () => {
      const now = await leaseTimes(world, 'k1');
      return held.every((h) => now[h.shard]!.node !== 'b');
    });
    const after = await leaseTimes(world, 'k1');
    for (const { shard, generation } of held) {
      expect(after[shard]).toMatchObject({ node: 'a', generation: generation + 1 });
      // Claimed while b's lease still ran: b's sessions ended with it, so nothing was waited for.
      expect(after[shard]!.claimedAt.getTime()).toBeLessThan(before.get(shard)!.expiresAt.getTime());
    }
    expect((await detached.result).code).toBe(0);
    const rejects = join(world.dir, 'k1.rejects.csv');
    const got = await submit(world, [expected.input, '--run', 'k1', '--rejects', rejects]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
    expect(await journalCounts(world, 'k1')).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
  });
});
