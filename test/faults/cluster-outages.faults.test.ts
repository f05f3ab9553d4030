/**
 * Server faults harder than a graceful restart: nats-server SIGKILLed mid-run and started again on
 * its store, and PostgreSQL down for three leases mid-run. Each run ends with the single-process
 * output, every well-formed row once in the journal; after the outage the shards are claimed again
 * about once each, not in a storm. PostgreSQL down past the bound while submit waits ends submit
 * (exit 1) within the bound.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot } from '../helpers/cli.js';
import {
  committedBatches,
  expectedRun,
  haltPostgres,
  journalCounts,
  leases,
  restartNatsServer,
  resumePostgres,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

const leaseMs = 2000;

describe('cluster outages', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  async function finishAndCheck(run: string, expected: Awaited<ReturnType<typeof expectedRun>>): Promise<void> {
    const rejects = join(world.dir, `${run}.rejects.csv`);
    const got = await submit(world, [expected.input, '--run', run, '--rejects', rejects]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);
    expect(await journalCounts(world, run)).toEqual({ records: expected.wellFormed, lines: expected.wellFormed });
  }

  it('nats-server SIGKILLed mid-run and started again on its store', async () => {
    const nodes = ['c1', 'c2'].map((id) => startNode(world, id, { leaseMs }));
    const expected = await expectedRun(world, 'natskill', 400_000, 51);
    // --max-lag 2: the subjects stay full, so the run goes on only while submit's deletions hold
    // (a deletion the killed server lost, or a message it brought back, must not wedge a subject).
    const running = spawnSubmit(world, [expected.input, '--run', 'natskill', '--max-lag', '2', '--deadline', '120']);
    await until(async () => (await committedBatches(world, 'natskill')) > 0);
    const before = world.nats.pid;
    await restartNatsServer(world, 'SIGKILL');
    expect(world.nats.pid).not.toBe(before);
    const got = await running.result;
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    await finishAndCheck('natskill', expected);
    for (const node of nodes) await node.kill('SIGTERM');
  });

  it('PostgreSQL down for three leases mid-run: the run finishes, and no claim storm', async () => {
    const nodes = ['o1', 'o2'].map((id) => startNode(world, id, { leaseMs }));
    const expected = await expectedRun(world, 'pgdown', 400_000, 52);
    // The run's commits are held (the journal's tables exist since the test before), so the outage
    // surely lands mid-run however fast the nodes are; stopping the server ends the holder too.
    const holder = new pg.Client({ connectionString: world.journal });
    await holder.connect();
    holder.on('error', () => undefined);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
    const detached = spawnSubmit(world, [expected.input, '--run', 'pgdown', '--detach']);
    await until(async () =>
      withDb(world, async (c) => {
        const waiting = await c.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'`);
        return waiting.rowCount! > 0;
      }),
    );
    const generations = async () => (await leases(world, 'pgdown')).reduce((sum, l) => sum + l.generation, 0);
    const shards = (await leases(world, 'pgdown')).length;
    const before = await generations();
    expect(await committedBatches(world, 'pgdown')).toBe(0);
    const lastExpiry = await withDb(world, async (c) =>
      String(
        (await c.query("SELECT max(expires_at)::text AS t FROM payments_cluster.leases WHERE run = 'pgdown'")).rows[0]
          .t,
      ),
    );
    haltPostgres(world);
    await holder.end().catch(() => undefined);
    // Down for three leases (at least: the nodes' clock, not an assertion), then started again.
    await new Promise((resolve) => setTimeout(resolve, 3 * leaseMs));
    resumePostgres(world);
    // The outage outlasted every lease (by the database's clock).
    const outlasted = await withDb(world, async (c) =>
      Boolean((await c.query('SELECT now() > $1::timestamptz AS past', [lastExpiry])).rows[0].past),
    );
    expect(outlasted).toBe(true);
    expect((await detached.result).code).toBe(0);
    await until(async () => (await leases(world, 'pgdown')).every((l) => l.finished));
    // Every lease ran out during the outage: each shard is claimed again at most about once (an
    // owner whose lease nobody took renews it under the same generation, so 0 to `shards`, give or
    // take a handover of a node that took more than its share); a storm would be many more.
    const claims = (await generations()) - before;
    expect(claims).toBeLessThanOrEqual(2 * shards);
    const changes = await withDb(world, async (c) =>
      Number(
        (await c.query("SELECT sum(changes)::int AS n FROM payments_cluster.leases WHERE run = 'pgdown'")).rows[0].n,
      ),
    );
    expect(changes).toBeLessThanOrEqual(3 * shards);
    console.info(
      `PostgreSQL outage: ${claims} claims after it over ${shards} shards; ${changes} owner changes in the run`,
    );
    await finishAndCheck('pgdown', expected);
    for (const node of nodes) await node.kill('SIGTERM');
  });

  it('PostgreSQL down past the bound while submit waits on a full subject: exit 1 saying so, not a wait until --deadline', async () => {
    const expected = await expectedRun(world, 'pgaway', 300_000, 53);
    const journal = `${world.journal}${world.journal.includes('?') ? '&' : '?'}retry_seconds=3`;
    // No node: the subject fills (--max-lag 2) and submit waits for it to be trimmed.
    const child = spawn(
      process.execPath,
      [
        binPath,
        'submit',
        expected.input,
        '--run',
        'pgaway',
        '--shards',
        '1',
        '--max-lag',
        '2',
        '--nats',
        world.nats.url,
        '--journal',
        journal,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until(async () => /shard lags: its subject is full/.test(stderr));
    haltPostgres(world);
    try {
      expect(await exited, stderr).toBe(1);
      expect(stderr).toMatch(/lost the control plane's server; retrying for up to 3 s/);
      expect(errorLine(stderr)).toMatch(/lost the server while .* could not reconnect within 3 s/);
    } finally {
      resumePostgres(world);
    }
    const node = startNode(world, 'away1', { leaseMs });
    await finishAndCheck('pgaway', expected);
    await node.kill('SIGTERM');
  });
});
