/**
 * Backpressure through the stream: a shard's subject holds at most --max-lag batches, the server
 * refuses more, and `submit` waits (retrying the same message) until the shard's owner commits;
 * the output is still exact.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  journalCounts,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type World,
} from '../helpers/cluster.js';

describe('backpressure from a lagging shard to submit', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('with no node, every subject fills to --max-lag and submit waits; nodes drain it; the output is exact', async () => {
    const expected = await expectedRun(world, 'lag', 200_000, 61);
    const shards = 4;
    const maxLag = 2;
    const publishing = spawnSubmit(world, [
      expected.input,
      '--run',
      'lag',
      '--shards',
      String(shards),
      '--max-lag',
      String(maxLag),
      '--detach',
    ]);
    const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
    try {
      const jsm = await jetstreamManager(nc);
      const perSubject = async () => {
        const info = await jsm.streams.info('PAYMENTS_lag', { subjects_filter: '>' }).catch(() => undefined);
        return Object.values(info?.state.subjects ?? {});
      };
      // Every shard's subject is full, and submit is still there, waiting.
      await until(async () => {
        const counts = await perSubject();
        return counts.length === shards && counts.every((n) => n === maxLag);
      });
      expect(publishing.child.exitCode).toBeNull();
      for (const id of ['l1', 'l2']) startNode(world, id);
      const got = await publishing.result;
      expect(got.code).toBe(0);
      expect(got.stderr).toMatch(/shard lags: its subject is full/);
      const published = got.stderr
        .split('\n')
        .filter((l) => l.includes('"msg":"published"'))
        .map((l) => JSON.parse(l) as { lagWaitMs: number })[0];
      expect(published?.lagWaitMs).toBeGreaterThan(0);
      // The stream never held more than the limit per shard (what is left now is the lag).
      expect((await perSubject()).every((n) => n <= maxLag)).toBe(true);
    } finally {
      await nc.close();
    }
    const rejects = join(world.dir, 'lag.rejects.csv');
    const again = await submit(world, [expected.input, '--run', 'lag', '--rejects', rejects]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
    expect(await journalCounts(world, 'lag')).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
  });
});
