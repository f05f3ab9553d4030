/**
 * Longer fault runs of the cluster (npm run test:cluster-faults): each ends with the
 * single-process output and every well-formed row once in the journal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  committedBatches,
  committedBy,
  expectedRun,
  journalCounts,
  leases,
  restartNatsServer,
  restartPostgres,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type World,
} from '../helpers/cluster.js';

describe('cluster faults', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  /** Waits for the run through a second submit (republishing is de-duplicated) and checks it all. */
  async function finishAndCheck(
    run: string,
    expected: Awaited<ReturnType<typeof expectedRun>>,
    extra: string[] = [],
  ): Promise<void> {
    const rejects = join(world.dir, `${run}.rejects.csv`);
    const got = await submit(world, [expected.input, '--run', run, '--rejects', rejects, ...extra]);
    expect(got.stderr).not.toMatch(/"level":"error"/);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
    expect(await journalCounts(world, run)).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
  }

  it('SIGKILL two nodes, one after the other', async () => {
    const nodes = ['k1', 'k2', 'k3'].map((id) => startNode(world, id));
    const expected = await expectedRun(world, 'kill2', 1_600_000, 31);
    // Killed while the run is being published: nodes keep up with the publisher, and no shard
    // finishes before its end marker (the last message), so they are caught mid-run.
    const detached = spawnSubmit(world, [expected.input, '--run', 'kill2', '--detach']);
    await until(async () => (await committedBy(world, 'kill2', 'k2')) > 0, {
      ms: 60_000,
      what: 'k2 to commit a batch of a shard not finished',
    });
    await nodes[1]!.kill('SIGKILL');
    await until(async () => (await committedBy(world, 'kill2', 'k3')) > 1, {
      ms: 60_000,
      what: 'k3 to commit two batches of shards not finished',
    });
    await nodes[2]!.kill('SIGKILL');
    expect((await detached.result).code).toBe(0);
    await finishAndCheck('kill2', expected);
    await nodes[0]!.kill('SIGTERM');
  });

  it('a node joining mid-run takes a share of the shards', async () => {
    const first = startNode(world, 'j1');
    // Large enough that the run is still going once the joiner is up (faster nodes finished 1.2 M, then
    // 2.4 M rows before the joiner had a shard).
    const expected = await expectedRun(world, 'join', 4_800_000, 32);
    const detached = spawnSubmit(world, [expected.input, '--run', 'join', '--detach']);
    await until(async () => (await committedBy(world, 'join', 'j1')) > 0);
    const joiner = startNode(world, 'j2');
    expect((await detached.result).code).toBe(0);
    await finishAndCheck('join', expected);
    expect((await leases(world, 'join')).some((l) => l.node === 'j2')).toBe(true);
    await first.kill('SIGTERM');
    await joiner.kill('SIGTERM');
  });

  it('SIGKILL of submit mid-publish, then the same submit again', async () => {
    const nodes = ['s1', 's2'].map((id) => startNode(world, id));
    const expected = await expectedRun(world, 'subkill', 400_000, 33);
    // --max-lag 2: every subject stays full, so the second submit finishes only if it deletes what
    // the first one stored (its re-sent copies are duplicates naming messages already deleted).
    const first = spawnSubmit(world, [expected.input, '--run', 'subkill', '--max-lag', '2']);
    // Killed once it has deleted committed messages from the stream (their sequence numbers are
    // what the second submit's PubAcks name for its duplicates).
    const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
    try {
      const jsm = await jetstreamManager(nc);
      await until(async () => {
        const state = await jsm.streams
          .info('PAYMENTS_subkill')
          .then((i) => i.state)
          .catch(() => undefined);
        return state !== undefined && state.messages < state.last_seq;
      });
    } finally {
      await nc.close();
    }
    first.child.kill('SIGKILL');
    expect((await first.result).signal).toBe('SIGKILL');
    await finishAndCheck('subkill', expected, ['--deadline', '120']);
    for (const node of nodes) await node.kill('SIGTERM');
  });

  it('NATS restarted mid-run (file storage keeps the stream)', async () => {
    const nodes = ['n1', 'n2'].map((id) => startNode(world, id));
    const expected = await expectedRun(world, 'natsrestart', 400_000, 34);
    const running = spawnSubmit(world, [expected.input, '--run', 'natsrestart']);
    await until(async () => (await committedBatches(world, 'natsrestart')) > 0);
    await restartNatsServer(world);
    const got = await running.result;
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    await finishAndCheck('natsrestart', expected);
    for (const node of nodes) await node.kill('SIGTERM');
  });

  it('PostgreSQL restarted mid-run', async () => {
    const nodes = ['p1', 'p2'].map((id) => startNode(world, id));
    const expected = await expectedRun(world, 'pgrestart', 400_000, 35);
    const running = spawnSubmit(world, [expected.input, '--run', 'pgrestart']);
    await until(async () => (await committedBatches(world, 'pgrestart')) > 0);
    restartPostgres(world);
    const got = await running.result;
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    await finishAndCheck('pgrestart', expected);
    for (const node of nodes) await node.kill('SIGTERM');
  });
});
