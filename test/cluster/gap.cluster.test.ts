/**
 * A shard's stream missing a batch (here deleted by hand) is never finished with rows missing: the
 * shard runner fails on the gap in batch numbers, the shard is released and claimed again, and the
 * run stays unfinished (`result` says which shard is behind) instead of printing a wrong balance.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  expectedRun,
  leases,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type World,
} from '../helpers/cluster.js';

describe('a gap in a shard’s stream', { timeout: 120_000 }, () => {
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
    // Its shard never finishes: a node left running would keep claiming it ahead of the next test's.
    await node.kill('SIGKILL');
  });

  it('stops the shard when its first batch is missing, which batch numbers cannot show (the end marker counts rows)', async () => {
    const expected = await expectedRun(world, 'gap0', 200_000, 82);
    expect((await submit(world, [expected.input, '--run', 'gap0', '--shards', '1', '--detach'])).code).toBe(0);
    const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
    try {
      const jsm = await jetstreamManager(nc);
      expect(await jsm.streams.deleteMessage('PAYMENTS_gap0', 1)).toBe(true); // batch 0
    } finally {
      await nc.close();
    }
    startNode(world, 'gap2');
    const t0 = Date.now();
    await until(async () => {
      if (Date.now() - t0 > 90_000) {
        // Say what the nodes did rather than time out silently.
        const tails = world.nodes.map((n) => `${n.id}: ${n.stderr.slice(-2000)}`).join('\n');
        throw new Error(
          `no node reported the short shard; leases ${JSON.stringify(await leases(world, 'gap0'))}\n${tails}`,
        );
      }
      return world.nodes.some((n) => /its journal holds \d+ records but the stream sent \d+ rows/.test(n.stderr));
    });
    expect((await leases(world, 'gap0'))[0]!.finished).toBe(false);
    const result = await runCli(['result', '--run', 'gap0', '--journal', world.journal]);
    expect(result.code).toBe(2);
  });
});
