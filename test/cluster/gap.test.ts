/**
 * A shard's stream missing a batch (here deleted by hand) is never finished with rows missing: the
 * shard runner fails on the gap in batch numbers, the shard is released and claimed again, and the
 * run stays unfinished (`result` says which shard is behind) instead of printing a wrong balance.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { expectedRun, leases, startNode, startWorld, stopWorld, submit, until, type World } from './cluster-helpers.js';

describe('a gap in a shard’s stream', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('stops the shard rather than finishing it without the missing batch', async () => {
    const expected = await expectedRun(world, 'gap', 200_000, 81);
    expect((await submit(world, [expected.input, '--run', 'gap', '--shards', '1', '--detach'])).code).toBe(0);
    const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
    try {
      const jsm = await jetstreamManager(nc);
      const { state } = await jsm.streams.info('PAYMENTS_gap');
      expect(state.messages).toBeGreaterThan(4); // batches 0, 1, 2, … and the end marker
      expect(await jsm.streams.deleteMessage('PAYMENTS_gap', 3)).toBe(true); // batch 2
    } finally {
      await nc.close();
    }
    const node = startNode(world, 'gap1');
    await until(() => /stream skipped batches 2 to 2 of shard 0/.test(node.stderr));
    expect((await leases(world, 'gap'))[0]!.finished).toBe(false);
    const result = await runCli(['result', '--run', 'gap', '--journal', world.journal]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/shard 0 has applied up to line/);
  });
});
