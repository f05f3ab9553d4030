/**
 * The audit log of a live cluster: each node's join and leave, a shard taken from a node that was
 * stopped past its lease (shard-handoff, naming the node it came from), and the operator's submit
 * with --delete-stream, result and a refused shards --retry, each started then ended.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  expectedRun,
  freezeMidRun,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

interface Row {
  action: string;
  phase: string;
  node: string | null;
  exit_code: number | null;
  args: string[];
}
const auditRows = (world: World) =>
  withDb(
    world,
    async (c) =>
      (
        await c
          .query<Row>('SELECT action, phase, node, exit_code, args FROM payments_audit.log ORDER BY id')
          .catch(() => ({ rows: [] as Row[] }))
      ).rows,
  );

describe('cluster: the audit log', { timeout: 180_000 }, () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('records joins, a handoff from a stopped node, leaves, and the operator commands', async () => {
    const a = startNode(world, 'a');
    await until(async () => (await auditRows(world)).some((r) => r.action === 'node-join' && r.node === 'a'));
    const run = await expectedRun(world, 'audit', 300_000, 21);
    const detached = spawnSubmit(world, [run.input, '--run', 'au1', '--shards', '4', '--detach']);
    await freezeMidRun(world, a, 'au1');
    const b = startNode(world, 'b');
    await until(async () => (await auditRows(world)).some((r) => r.action === 'shard-handoff' && r.node === 'b'));
    a.signal('SIGCONT');
    expect((await detached.result).code).toBe(0);
    const done = await submit(world, [run.input, '--run', 'au1', '--delete-stream']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(run.accounts);
    expect((await runCli(['result', '--run', 'au1', '--journal', world.journal])).code).toBe(0);
    const retry = await runCli(['shards', '--run', 'au1', '--journal', world.journal, '--retry', '0']);
    expect(retry.code).toBe(2);
    await a.kill('SIGTERM');
    await b.kill('SIGTERM');

    const rows = await auditRows(world);
    const handoff = rows.find((r) => r.action === 'shard-handoff' && r.node === 'b')!;
    expect(handoff.args).toEqual(expect.arrayContaining(['run=au1', 'from=a']));
    const summary = rows.filter((r) => r.node === null).map((r) => `${r.action}:${r.phase}:${r.exit_code ?? '-'}`);
    expect(summary).toEqual([
      'submit:started:-',
      'submit:ok:0',
      'delete-stream:started:-',
      'delete-stream:ok:0',
      'result:started:-',
      'result:ok:0',
      'shards-retry:started:-',
      'shards-retry:failed:2',
    ]);
    for (const id of ['a', 'b']) {
      const own = rows.filter((r) => r.node === id).map((r) => r.action);
      expect(own[0]).toBe('node-join');
      expect(own[own.length - 1]).toBe('node-leave');
    }
  });
});
