/**
 * A shard whose commits keep failing is retried with a growing backoff, not in a hot loop, and is
 * quarantined after shardFailuresMax failures in a row; submit exits 1 naming it and the cause.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine } from '../helpers/cli.js';
import { expectedRun, startNode, startWorld, stopWorld, submit, withDb, type World } from '../helpers/cluster.js';

describe('a shard that keeps failing', { timeout: 120_000 }, () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('is retried with a backoff, then quarantined with its cause', async () => {
    const expected = await expectedRun(world, 'boom', 5000, 95);
    const args = [expected.input, '--run', 'boom', '--shards', '1'];
    expect((await submit(world, [...args, '--detach'])).code).toBe(0);
    // Every commit of this run fails (an error no retry can help).
    await withDb(world, (c) =>
      c.query(`
        CREATE FUNCTION public.boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'boom: the disk said no'; END $$;
        CREATE TRIGGER boom BEFORE INSERT ON payments.batches FOR EACH ROW
          WHEN (NEW.journal = 'boom') EXECUTE FUNCTION public.boom();`),
    );
    startNode(world, 'boom1', { leaseMs: 600 });
    const failed = await submit(world, [...args, '--deadline', '100']);
    expect(failed.code, failed.stderr).toBe(1);
    expect(errorLine(failed.stderr)).toMatch(
      /shard 0 quarantined: failed 6 times in a row; the last: .*boom: the disk said no/,
    );
    const lease = await withDb(
      world,
      async (c) => (await c.query(`SELECT changes, failures FROM payments_cluster.leases WHERE run = 'boom'`)).rows[0],
    );
    // One claim per failure: no claim loop between them.
    expect(lease).toEqual({ changes: 6, failures: 6 });
  });
});
