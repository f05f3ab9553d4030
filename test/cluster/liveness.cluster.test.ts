/**
 * Every shard ends in bounded time: a message that is not a batch of the run is a dead letter (the
 * shard still finishes), a stream deleted under an unfinished run quarantines its shards (and a
 * second submit repairs them; one that makes it again first has them read it from its start), a run whose journal was removed quarantines its shards without
 * holding up other runs, an operator retries a quarantine, submit gives up at its deadline,
 * and a node's endpoints (token, health, metrics) and expiry.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCli } from '../helpers/cli.js';
import {
  expectedRun,
  leases,
  logLines,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withBatchesLocked,
  withDb,
  type World,
} from '../helpers/cluster.js';
import { headersOf, makeRunStream } from '../helpers/jetstream.js';

async function withNats<T>(world: World, fn: (nc: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

const shards = (world: World, run: string, extra: string[] = []) =>
  runCli(['shards', '--run', run, '--journal', world.journal, ...extra]);

describe('cluster liveness', { timeout: 120_000 }, () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('keeps messages that are not batches of the run as dead letters and still finishes the shard', async () => {
    const expected = await expectedRun(world, 'dead', 50_000, 91);
    const args = [expected.input, '--run', 'dead', '--shards', '1'];
    // The run's stream as submit makes it, holding two foreign messages before the run's batches.
    await makeRunStream(world, 'dead', async (js) => {
      await js.publish('payments.dead.shard.0', new Uint8Array([1, 2, 3])); // no headers at all
      const h = headersOf({
        'Payments-Batch': '7',
        'Payments-First-Line': '900000000',
        'Payments-Last-Line': '900000000',
        'Payments-Prev-Line': '899999999',
      });
      await js.publish('payments.dead.shard.0', new Uint8Array(7), { headers: h }); // not whole rows
    });
    const node = startNode(world, 'dead1', { extra: ['--http', '0'] });
    const done = await submit(world, [...args, '--deadline', '100']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(expected.accounts);
    const shown = await shards(world, 'dead');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^0,finished,dead1,/m);
    // Stamped by no submit of the run's journal: kept, never applied. (Which other check each would
    // fail is unit-tested in shard-messages.unit.test.ts; one stamped for an earlier journal is
    // purged by the submit that makes the new one: submit.cluster.test.ts.)
    expect(shown.stdout).toMatch(/^0,\d+,,other-journal,.*no journal id/m);
    expect(shown.stdout).toMatch(/^0,\d+,7,other-journal,.*no journal id.*Payments-Prev-Line/m);
    const port = logLines(node).find((l) => l.msg === 'node joined')?.http;
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const metrics = await scrape();
    expect(metrics).toMatch(/payments_node_dead_letters_total\{reason="other-journal"\} 2/);
    // The finished shard leaves the node at its next tick (submit may return first): its series go.
    await until(async () => !/payments_node_shard_state\{run="dead"/.test(await scrape()));
    await node.kill('SIGKILL');
  });

  it('quarantines the shards of a deleted stream; an operator retry or a second submit lifts it', async () => {
    const expected = await expectedRun(world, 'gone', 30_000, 92);
    const args = [expected.input, '--run', 'gone', '--shards', '2'];
    expect((await submit(world, [...args, '--detach'])).code).toBe(0);
    await withNats(world, async (nc) => (await jetstreamManager(nc)).streams.delete('PAYMENTS_gone'));
    const node = startNode(world, 'gone1');
    await until(async () => (await shards(world, 'gone')).stdout.match(/,quarantined,/g)?.length === 2);
    expect((await shards(world, 'gone')).stdout).toMatch(/stream PAYMENTS_gone is gone/);
    expect(errorLine((await shards(world, 'gone', ['--retry', '5'])).stderr)).toMatch(
      /--retry 5: run gone has shards 0 to 1/,
    );
    const retried = await shards(world, 'gone', ['--retry', '0']);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stderr).toMatch(/shard 0 of run gone: quarantine lifted/);
    // Retried, its stream still gone: quarantined again, not looping.
    await until(
      async () =>
        (await leases(world, 'gone')).every((l) => l.finished === false) &&
        (await shards(world, 'gone')).stdout.match(/,quarantined,/g)?.length === 2,
    );
    const notQuarantined = await shards(world, 'gone', ['--retry', 'all']);
    expect(notQuarantined.code).toBe(0);
    const repaired = await submit(world, [...args, '--deadline', '100']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(expected.accounts);
    expect(errorLine((await shards(world, 'gone', ['--retry', '1'])).stderr)).toMatch(/is finished, not quarantined/);
    await node.kill('SIGKILL');
  });

  it('quarantines a shard whose stream is deleted while it reads it; a second submit repairs it', async () => {
    const expected = await expectedRun(world, 'cut', 600_000, 96);
    const args = [expected.input, '--run', 'cut', '--shards', '1'];
    const node = startNode(world, 'cut1');
    // The shard's first commit is held, so the node has read only its read-ahead when the stream goes.
    await withBatchesLocked(world, async () => {
      expect((await submit(world, [...args, '--detach'])).code).toBe(0);
      await until(async () =>
        withDb(world, async (c) => {
          const r = await c.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'payments cut shard 0'`,
          );
          return r.rowCount! > 0;
        }),
      );
      await withNats(world, async (nc) => (await jetstreamManager(nc)).streams.delete('PAYMENTS_cut'));
    });
    let shown = '';
    await until(
      async () => {
        shown = (await shards(world, 'cut')).stdout;
        return /^0,quarantined,cut1,/m.test(shown);
      },
      { ms: 60_000, what: () => `shard 0 of cut quarantined; shards says:\n${shown}` },
    );
    expect(shown).toMatch(/stream PAYMENTS_cut is gone \(deleted before the run finished\)/);
    const repaired = await submit(world, [...args, '--deadline', '100']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(expected.accounts);
    await node.kill('SIGKILL');
  });

  it('a stream deleted mid-run and made again by the next submit is read from its start, its owner fenced', async () => {
    // The first stream holds 30 foreign messages before the run's batches, so its sequence numbers
    // are not the new stream's: a reader resuming at the old position would wait past its end.
    const expected = await expectedRun(world, 'anew', 200_000, 97);
    const args = [expected.input, '--run', 'anew', '--shards', '1'];
    await makeRunStream(world, 'anew', async (js) => {
      for (let i = 0; i < 30; i++) await js.publish('payments.anew.shard.0', new Uint8Array([i]));
    });
    const node = startNode(world, 'anew1');
    // Its first commit held: the node has passed the foreign messages (its hint is past them) and
    // waits to commit its first batch when the stream goes and the next submit makes it again.
    await withBatchesLocked(world, async () => {
      expect((await submit(world, [...args, '--detach'])).code).toBe(0);
      await until(async () =>
        withDb(world, async (c) => {
          const r = await c.query(
            `SELECT 1 FROM payments_cluster.leases WHERE run = 'anew' AND stream_seq >= 30 AND NOT finished`,
          );
          return r.rowCount === 1;
        }),
      );
      const before = (await leases(world, 'anew'))[0]!.generation;
      await withNats(world, async (nc) => (await jetstreamManager(nc)).streams.delete('PAYMENTS_anew'));
      const again = await submit(world, [...args, '--detach']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/the run's stream is new: its unfinished shards read it from its start/);
      // The owner that read the old stream is fenced: nothing it holds commits.
      expect((await leases(world, 'anew'))[0]!.generation).toBeGreaterThan(before);
    });
    const done = await submit(world, [...args, '--deadline', '60']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(expected.accounts);
    expect(done.stderr).not.toMatch(/stream is new/); // the same stream: nothing read again
    await node.kill('SIGKILL');
  });

  it('a submit still publishing stops once a shard is quarantined, naming it (its stream deleted)', async () => {
    const expected = await expectedRun(world, 'cut2', 600_000, 97);
    const node = startNode(world, 'cut2n');
    // --max-lag 2 and the commits held: the subject fills and submit waits, still publishing.
    const running = await withBatchesLocked(world, async () => {
      const spawned = spawnSubmit(world, [expected.input, '--run', 'cut2', '--shards', '1', '--max-lag', '2']);
      await until(async () => /shard lags: its subject is full/.test(spawned.stderr()));
      await withNats(world, async (nc) => (await jetstreamManager(nc)).streams.delete('PAYMENTS_cut2'));
      return spawned;
    });
    const got = await running.result;
    expect(got.code).toBe(1);
    expect(got.stdout).toBe('');
    expect(errorLine(got.stderr)).toMatch(
      /run cut2: shard 0 quarantined: the run's stream PAYMENTS_cut2 is gone \(deleted before the run finished\)/,
    );
    await node.kill('SIGKILL');
  });

  it('a submit still publishing stops when another submit makes the stream again; that one finishes the run', async () => {
    const expected = await expectedRun(world, 'cut3', 300_000, 98);
    // No node yet: the subject fills (--max-lag 2) and the first submit waits, still publishing;
    // nobody reads the stream, so nothing quarantines a shard when it goes.
    const first = spawnSubmit(world, [expected.input, '--run', 'cut3', '--shards', '1', '--max-lag', '2']);
    await until(async () => /shard lags: its subject is full/.test(first.stderr()));
    await withNats(world, async (nc) => (await jetstreamManager(nc)).streams.delete('PAYMENTS_cut3'));
    const second = spawnSubmit(world, [expected.input, '--run', 'cut3', '--deadline', '100']);
    // Bounded, and saying what each submit said when it is not.
    const stopped = await Promise.race([
      first.result,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`the first submit did not stop:\n${first.stderr()}\nsecond:\n${second.stderr()}`)),
          60_000,
        ).unref(),
      ),
    ]);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stdout).toBe('');
    expect(errorLine(stopped.stderr)).toMatch(
      /run cut3: its stream PAYMENTS_cut3 was deleted while this submit published, and made again by another submit/,
    );
    const node = startNode(world, 'cut3n');
    const done = await second.result;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(expected.accounts);
    await node.kill('SIGKILL');
  });

  it('a run whose journal was removed under it: its shards end quarantined, naming it; other runs go on', async () => {
    for (const node of world.nodes) await node.kill('SIGKILL');
    const orphan = await expectedRun(world, 'orphan', 3000, 94);
    const alive = await expectedRun(world, 'alive', 3000, 95);
    expect((await submit(world, [orphan.input, '--run', 'orphan', '--shards', '2', '--detach'])).code).toBe(0);
    expect((await submit(world, [alive.input, '--run', 'alive', '--shards', '2', '--detach'])).code).toBe(0);
    // Removed as the journal's docs say, its control rows and stream left.
    await withDb(world, async (c) => {
      for (const table of ['batches', 'snapshots', 'snapshot_parts'])
        await c.query(`DELETE FROM payments.${table} WHERE journal = 'orphan'`);
      await c.query(`DELETE FROM payments.journals WHERE name = 'orphan'`);
    });
    const node = startNode(world, 'orphan1', { leaseMs: 600 });
    const done = await submit(world, [alive.input, '--run', 'alive', '--deadline', '60']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(alive.accounts);
    let shown = '';
    await until(
      async () => {
        shown = (await shards(world, 'orphan')).stdout;
        return shown.match(/,quarantined,/g)?.length === 2;
      },
      { ms: 60_000, what: () => `both shards of orphan quarantined; shards says:\n${shown}` },
    );
    // Named as the operator wrote it (not with the fence the node adds to its sessions).
    for (const shard of [0, 1])
      expect(shown).toMatch(
        new RegExp(
          `^${shard},quarantined,orphan1,\\d+,6,failed 6 times in a row; the last: journal postgres://\\S+\\?journal=orphan partition ${shard}: the journal does not exist$`,
          'm',
        ),
      );
    await node.kill('SIGKILL');
  });

  it('gives up at the deadline when no node runs the shards, naming them', async () => {
    for (const node of world.nodes) await node.kill('SIGKILL');
    const expected = await expectedRun(world, 'late', 2000, 93);
    const late = await submit(world, [expected.input, '--run', 'late', '--shards', '2', '--deadline', '2']);
    expect(late.code).toBe(1);
    expect(late.stdout).toBe('');
    expect(errorLine(late.stderr)).toMatch(
      /run late: not finished within --deadline 2 s: shard 0 no live owner.*shard 1 no live owner/,
    );
  });

  it('serves /readyz and /metrics with the bearer token only, /healthz to all, and expires old runs', async () => {
    const tokenFile = join(world.dir, 'token');
    writeFileSync(tokenFile, 's3cret\n');
    const node = startNode(world, 'http1', {
      extra: ['--http', '0', '--http-bind', '127.0.0.1', '--http-token-file', tokenFile, '--expire-seconds', '1'],
    });
    await until(() => logLines(node).some((l) => l.msg === 'node joined'));
    const port = logLines(node).find((l) => l.msg === 'node joined')?.http;
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;
    expect((await fetch(url('/metrics'))).status).toBe(401);
    expect((await fetch(url('/readyz'), { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const health = await fetch(url('/healthz'));
    expect(health.status).toBe(200);
    expect(await health.text()).toMatch(/last successful tick \d+\.\d s ago/);
    const metrics = await (await fetch(url('/metrics'), { headers: { authorization: 'Bearer s3cret' } })).text();
    for (const name of [
      'payments_node_ready',
      'payments_node_last_tick_age_seconds',
      'payments_node_tick_seconds',
      'payments_cluster_run_overdue',
    ])
      expect(metrics).toContain(name);
    // The run that missed its deadline is overdue in every node's view.
    await until(async () =>
      /payments_cluster_run_overdue\{run="late"\} 1/.test(
        await (await fetch(url('/metrics'), { headers: { authorization: 'Bearer s3cret' } })).text(),
      ),
    );
    expect(
      (
        await runCli([
          'node',
          '--nats',
          world.nats.url,
          '--journal',
          world.journal,
          '--http',
          '0',
          '--http-token-file',
          join(world.dir, 'none'),
        ])
      ).code,
    ).toBe(2);
    await node.kill('SIGKILL');
    // Finished runs (older than a second) are gone with their leases and dead letters.
    const runs = await withDb(world, async (c) => (await c.query('SELECT name FROM payments_cluster.runs')).rows);
    expect(runs.map((r) => r.name)).not.toContain('dead');
    expect((await shards(world, 'dead')).code).toBe(2);
  });
});
