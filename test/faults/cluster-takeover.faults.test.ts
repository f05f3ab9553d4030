/**
 * The guard of the early takeover (npm run test:cluster-faults): a PostgreSQL restart ends every
 * session, so an owner's missing session does not prove it dead. Here the owner is even stopped
 * (SIGSTOP) across the restart, so that it reconnects last: another node must still not take its
 * shards before their lease runs out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  freezeMidRun,
  journalCounts,
  leases,
  restartPostgres,
  startNode,
  startWorld,
  stopWorld,
  spawnSubmit,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

/** Longer than the restart and the wait below, so that only an early claim could move a shard. */
const leaseMs = 60_000;

describe('early takeover guard', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('after a PostgreSQL restart, no shard changes hands while its owner is alive', async () => {
    const expected = await expectedRun(world, 'guard', 1_200_000, 51);
    const owner = startNode(world, 'g1', { leaseMs });
    startNode(world, 'g2', { leaseMs });
    // Caught while the run is being published (nodes keep up with the publisher: once published,
    // the run may be over); the publishing ends before the restart.
    const detached = spawnSubmit(world, [expected.input, '--run', 'g', '--detach']);
    const held = await freezeMidRun(world, owner, 'g');
    expect((await detached.result).code).toBe(0);
    restartPostgres(world);
    // g2 reconnects and ticks (claim attempts every 500 ms) for at least 3 s of the restarted server.
    await until(() =>
      withDb(world, async (c) => {
        const r = await c.query(
          `SELECT heartbeat_at > pg_postmaster_start_time() + interval '3 seconds' AS ok
             FROM payments_cluster.nodes WHERE id = 'g2'`,
        );
        return r.rows[0]?.ok === true;
      }).catch(() => false),
    );
    const now = await leases(world, 'g');
    for (const { shard, generation } of held) expect(now[shard]).toMatchObject({ node: 'g1', generation });
    owner.signal('SIGCONT');
    const rejects = join(world.dir, 'g.rejects.csv');
    const got = await submit(world, [expected.input, '--run', 'g', '--rejects', rejects]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
    expect(await journalCounts(world, 'g')).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
  });
});
