/**
 * Shards owned across nodes, against a real nats-server and a real PostgreSQL started
 * by the tests' own scripts: several `payments node` processes, `payments submit`, and the
 * single-process run as the oracle. Longer fault runs: npm run test:cluster-faults.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCli } from '../helpers/cli.js';
import {
  freezeMidRun,
  expectedRun,
  journalCounts,
  leases,
  sessions,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withBatchesLocked,
  withDb,
  type Expected,
  type World,
} from '../helpers/cluster.js';
import { inputSampleBytes, publishMessageBytes } from '../../src/constants.js';
import { batchLayout } from '../../src/layout.js';
import { lastHeader } from '../helpers/jetstream.js';
import { join } from 'node:path';
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';

// Generous: under a loaded CI machine a takeover plus a 600,000-row run can take well over a minute.
describe('cluster: 3 nodes, 8 shards', { timeout: 180_000 }, () => {
  let world: World;
  let small: Expected;

  beforeAll(async () => {
    world = await startWorld();
    small = await expectedRun(world, 'small', 120_000, 11);
    for (const id of ['a', 'b', 'c']) startNode(world, id);
  });
  afterAll(() => stopWorld(world));

  it('prints byte for byte what the single-process run prints, and the journal holds every row once', async () => {
    const rejects = join(world.dir, 'r1.rejects.csv');
    const got = await submit(world, [small.input, '--run', 'r1', '--shards', '8', '--rejects', rejects]);
    expect(got.stderr).not.toMatch(/"level":"error"/);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(small.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(small.rejects);
    expect(await journalCounts(world, 'r1')).toEqual({ records: small.wellFormed, lines: small.wellFormed });
    const owners = new Set((await leases(world, 'r1')).map((l) => l.node));
    expect(owners.size).toBeGreaterThan(1); // the work was spread
    // Each shard's rows came in full messages (the last one shorter), not one per chunk the
    // reader routed: one journal batch per message.
    const perMessage = Math.floor(publishMessageBytes / batchLayout.rowBytes);
    const batches = await withDb(world, async (c) => {
      const r = await c.query(
        'SELECT count(*)::int AS batches, sum(count)::int AS records FROM payments.batches WHERE journal = $1 GROUP BY partition',
        ['r1'],
      );
      return r.rows as { batches: number; records: number }[];
    });
    expect(batches).toHaveLength(8);
    for (const shard of batches) expect(shard.batches).toBe(Math.ceil(shard.records / perMessage));
    for (const node of world.nodes) expect(node.stderr).not.toMatch(/DeprecationWarning/);
  });

  it('`result` prints the same later, and a second submit of the same run applies nothing twice', async () => {
    const later = await runCli([
      'result',
      '--run',
      'r1',
      '--journal',
      world.journal,
      '--rejects',
      join(world.dir, 'r1b.csv'),
    ]);
    expect(later.code).toBe(0);
    expect(later.stdout).toBe(small.accounts);
    expect(readFileSync(join(world.dir, 'r1b.csv'), 'utf8')).toBe(small.rejects);
    const again = await submit(world, [small.input, '--run', 'r1']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(small.accounts);
    expect(await journalCounts(world, 'r1')).toEqual({ records: small.wellFormed, lines: small.wellFormed });
  });

  it('a run name used again, its journal removed and its stream kept: the new file, never the old batches', async () => {
    const first = await expectedRun(world, 'again-a', 20_000, 31);
    const second = await expectedRun(world, 'again-b', 20_000, 32);
    // --max-lag 2: the first run leaves each shard's subject full (a batch and its end marker).
    const done = await submit(world, [first.input, '--run', 'again', '--max-lag', '2']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(first.accounts);
    const removeJournal = (alsoControlRows: boolean) =>
      withDb(world, async (c) => {
        for (const table of ['batches', 'snapshots', 'snapshot_parts'])
          await c.query(`DELETE FROM payments.${table} WHERE journal = $1`, ['again']);
        await c.query('DELETE FROM payments.journals WHERE name = $1', ['again']);
        if (alsoControlRows) await c.query('DELETE FROM payments_cluster.runs WHERE name = $1', ['again']);
      });
    // Removed as the operations guide says; the stream, with the first run's messages, stays.
    await removeJournal(true);
    const reused = await submit(world, [second.input, '--run', 'again', '--max-lag', '2', '--deadline', '120']);
    expect(reused.code, reused.stderr).toBe(0);
    expect(reused.stdout).toBe(second.accounts);
    expect(reused.stderr).toMatch(/purged an earlier run's messages/);
    expect(await journalCounts(world, 'again')).toEqual({ records: second.wellFormed, lines: second.wellFormed });
    // The journal alone removed (its control rows say the run finished): not the new, empty journal's accounts.
    await removeJournal(false);
    const third = await submit(world, [first.input, '--run', 'again', '--deadline', '120']);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toBe(first.accounts);
    expect(third.stderr).toMatch(/removed an earlier run's control rows/);
  });

  it('refuses a file changed between its first and last MiB, the size kept (exit 2): never the first file’s balances', async () => {
    const first = await expectedRun(world, 'edited', 150_000, 16);
    const done = await submit(world, [first.input, '--run', 'edited']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(first.accounts);
    // One digit of a deposit in the middle changed: the same size, first and last bytes.
    const text = readFileSync(first.input, 'utf8');
    const at = text.indexOf('\ndeposit,', text.length >> 1) + 1;
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end);
    const digit = line.search(/\d(?=\D*$)/);
    const edited = join(world.dir, 'edited-2.csv');
    const changed = line.slice(0, digit) + String((Number(line[digit]) + 1) % 10) + line.slice(digit + 1);
    writeFileSync(edited, text.slice(0, at) + changed + text.slice(end));
    expect(statSync(edited).size).toBe(statSync(first.input).size);
    // Between the first and the last MiB, which the size-and-ends fingerprint reads.
    expect(at).toBeGreaterThan(inputSampleBytes);
    expect(end).toBeLessThan(text.length - inputSampleBytes);
    for (const args of [
      [edited, '--run', 'edited'],
      [edited, '--run', 'edited', '--detach'],
    ]) {
      const refused = await submit(world, args);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stdout).toBe('');
      expect(errorLine(refused.stderr)).toMatch(
        /written for a different input \(.*edited\.csv, \d+ bytes: the same size, first and last bytes, other bytes between\)/,
      );
    }
    const rejects = join(world.dir, 'edited.rejects.csv');
    const result = await runCli([
      'result',
      '--run',
      'edited',
      '--journal',
      world.journal,
      '--rejects',
      rejects,
      '--input',
      edited,
    ]);
    expect(result.code).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--input .*edited-2\.csv: not the file run edited was submitted with/);
  });

  it('a file edited while submit reads it: exit 1 before any end marker, and the run is taken for no file again', async () => {
    const first = await expectedRun(world, 'midedit', 900_000, 17);
    const original = readFileSync(first.input, 'utf8');
    // One digit of a deposit just before the last MiB (which the fingerprint reads): about 25 MB in,
    // far past what submit reads ahead while its subject is full, so not yet read when it changes.
    const at = original.indexOf('\ndeposit,', original.length - inputSampleBytes - (256 << 10)) + 1;
    expect(at).toBeGreaterThan(16 << 20);
    const end = original.indexOf('\n', at);
    const line = original.slice(at, end);
    const digit = line.search(/\d(?=\D*$)/);
    const changed = line.slice(0, digit) + String((Number(line[digit]) + 1) % 10) + line.slice(digit + 1);
    expect(end).toBeLessThan(original.length - inputSampleBytes);
    // Commits held and --max-lag 2: submit stops reading early on, waiting for its subject.
    const running = await withBatchesLocked(world, async () => {
      const spawned = spawnSubmit(world, [first.input, '--run', 'midedit', '--shards', '1', '--max-lag', '2']);
      await until(async () => /shard lags: its subject is full/.test(spawned.stderr()));
      const fd = openSync(first.input, 'r+');
      writeSync(fd, changed, at, 'latin1');
      closeSync(fd);
      return spawned;
    });
    const got = await running.result;
    expect(got.code, got.stderr).toBe(1);
    expect(got.stdout).toBe('');
    expect(errorLine(got.stderr)).toMatch(
      /midedit\.csv: changed while submit read it \(its CRC-32 was \d+ when the run began, \d+ as read\): run midedit holds batches of no one file/,
    );
    // No end marker went out, so no node finishes the shard on what was read...
    expect(await lastHeader(world, 'PAYMENTS_midedit', 'payments.midedit.shard.0', 'Payments-End')).toBeUndefined();
    // ...and the run gives no accounts, for the file as it was or as read: its stream holds what
    // this submit read, and could hold an earlier submit's batches of the file as it was.
    const before = join(world.dir, 'midedit-before.csv');
    writeFileSync(before, original);
    for (const file of [before, first.input]) {
      const refused = await submit(world, [file, '--run', 'midedit']);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stdout).toBe('');
      expect(errorLine(refused.stderr)).toMatch(/its input \(.*midedit\.csv\) changed while a submit read it/);
    }
    for (const args of [[], ['--input', first.input]]) {
      const result = await runCli(['result', '--run', 'midedit', '--journal', world.journal, ...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      expect(errorLine(result.stderr)).toMatch(/run midedit: its input changed while a submit read it/);
    }
    const url = new URL(world.journal);
    url.searchParams.set('journal', 'midedit');
    const replay = await runCli(['replay', '--journal', url.toString()]);
    expect(replay.code, replay.stderr).toBe(2);
    expect(errorLine(replay.stderr)).toMatch(/changed while it read it, so its batches are of no one file/);
    // Its shards wait for no end marker: quarantined, named, held by no node.
    const shown = await runCli(['shards', '--run', 'midedit', '--journal', world.journal]);
    expect(shown.stdout).toMatch(/^0,quarantined,.*its input changed while a submit read it/m);
  });

  it("refuses to submit into a single-process run's journal (exit 2), which it would apply into wrongly", async () => {
    const url = new URL(world.journal);
    url.searchParams.set('journal', 'local1');
    const local = await runCli([small.input, '-q', '--journal', url.toString()]);
    expect(local.code, local.stderr).toBe(0);
    const refused = await submit(world, [small.input, '--run', 'local1']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(errorLine(refused.stderr)).toMatch(
      /journal .*local1.*: is the journal of a single-process run \(payments FILE --journal\), so a cluster run cannot apply into it/,
    );
  });

  it('a NATS that cannot be reached leaves no run for the nodes to claim (exit 1, one line)', async () => {
    const unreachable = await submit(world, [small.input, '--run', 'nonats'], 'nats://127.0.0.1:1');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe('');
    expect(errorLine(unreachable.stderr)).toMatch(/nats .*127\.0\.0\.1:1: cannot connect/);
    const rows = await withDb(world, async (c) => {
      const runs = await c.query('SELECT 1 FROM payments_cluster.runs WHERE name = $1', ['nonats']);
      const journals = await c.query('SELECT 1 FROM payments.journals WHERE name = $1', ['nonats']);
      return runs.rows.length + journals.rows.length;
    });
    expect(rows).toBe(0);
  });

  it("marks the run's journal finished: replay answers for any line, past the last one too", async () => {
    const row = await withDb(world, async (c) => {
      const r = await c.query('SELECT complete FROM payments.journals WHERE name = $1', ['r1']);
      return r.rows[0] as { complete: boolean };
    });
    expect(row.complete).toBe(true);
    const url = new URL(world.journal);
    url.searchParams.set('journal', 'r1');
    const past = readFileSync(small.input, 'utf8').split('\n').length + 5;
    const replay = await runCli(['replay', '--journal', url.toString(), '--as-of-line', String(past), '-q']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(small.accounts);
  });

  it('SIGKILL of a node mid-run: its shards are taken over and the output is still the same', async () => {
    const mid = await expectedRun(world, 'mid', 600_000, 12);
    const victim = world.nodes.find((n) => n.id === 'b')!;
    // Caught while the run is being published (nodes keep up with the publisher: once published,
    // the run may be over).
    const detached = spawnSubmit(world, [mid.input, '--run', 'r2', '--detach']);
    // Killed while it runs shards it has committed batches of: mid-run for b.
    const held = await freezeMidRun(world, victim, 'r2');
    await victim.kill('SIGKILL');
    const published = await detached.result;
    expect(published.code).toBe(0);
    expect(published.stdout).toBe('');
    // A second submit of the same run republishes (stored batches are de-duplicated) and waits.
    const got = await submit(world, [mid.input, '--run', 'r2', '--rejects', join(world.dir, 'r2.rejects.csv')]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(mid.accounts);
    expect(readFileSync(join(world.dir, 'r2.rejects.csv'), 'utf8')).toBe(mid.rejects);
    expect(await journalCounts(world, 'r2')).toEqual({ records: mid.wellFormed, lines: mid.wellFormed });
    // The shards b was running were finished by another node, under a newer generation.
    const after = await leases(world, 'r2');
    const taken = held.map((h) => after[h.shard]!);
    expect(taken.every((l) => l.finished)).toBe(true);
    expect(taken.some((l, i) => l.node !== 'b' && l.generation > held[i]!.generation)).toBe(true);
  });

  it('SIGSTOP of a node past its lease, then SIGCONT: it loses its shards, its late commits are refused', async () => {
    const run = await expectedRun(world, 'stop', 600_000, 13);
    const victim = world.nodes.find((n) => n.id === 'c')!;
    const detached = spawnSubmit(world, [run.input, '--run', 'r3', '--detach']);
    const held = (await freezeMidRun(world, victim, 'r3')).map((r) => r.shard);
    expect((await detached.result).code).toBe(0);
    // Another node takes every shard c held (its lease ran out while it was stopped).
    const t0 = Date.now();
    await until(async () => {
      if (Date.now() - t0 > 40_000) {
        console.log(await leases(world, 'r3'), await sessions(world));
        throw new Error('stuck');
      }
      return (await leases(world, 'r3')).every((l) => !held.includes(l.shard) || l.node !== 'c');
    });
    victim.signal('SIGCONT');
    const got = await submit(world, [
      run.input,
      '--run',
      'r3',
      '--rejects',
      join(world.dir, 'r3.rejects.csv'),
      '--deadline',
      '90',
    ]);
    expect(got.stderr).not.toMatch(/"level":"error"/);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(run.accounts);
    expect(readFileSync(join(world.dir, 'r3.rejects.csv'), 'utf8')).toBe(run.rejects);
    expect(await journalCounts(world, 'r3')).toEqual({ records: run.wellFormed, lines: run.wellFormed });
    // The woken node learns it lost the shards one of two ways, whichever comes first: its lease
    // renewal finds another owner, or its shard thread's next commit is refused by the fence.
    await until(() => /lease lost|commit refused by the fence/.test(victim.stderr), {
      ms: 60_000,
      what: () => `node c to learn it lost its shards; its log:\n${victim.stderr.slice(-2000)}`,
    });
  });

  it('usage errors are one line with exit 2', async () => {
    const noRun = await runCli(['submit', small.input, '--nats', world.nats.url, '--journal', world.journal]);
    expect(noRun.code).toBe(2);
    const badRun = await submit(world, [small.input, '--run', 'a.b']);
    expect(badRun.code).toBe(2);
    expect(badRun.stderr).toMatch(/run name/);
    const notPg = await runCli(['submit', small.input, '--run', 'x', '--nats', world.nats.url, '--journal', '/tmp/j']);
    expect(notPg.code).toBe(2);
    expect(notPg.stderr).toMatch(/PostgreSQL URL/);
    const missing = await submit(world, [join(world.dir, 'nope.csv'), '--run', 'x']);
    expect(missing.code).toBe(2);
    // A pipe cannot be read again (re-run, rejected rows): refused before it is opened, not waited on.
    const fifo = join(world.dir, 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    const pipe = await submit(world, [fifo, '--run', 'x']);
    expect(pipe.code).toBe(2);
    expect(pipe.stderr).toMatch(/pipe\.csv: is a pipe \(FIFO\)/);
    const unknown = await runCli(['result', '--run', 'never', '--journal', world.journal]);
    expect(unknown.code).toBe(2);
    // PostgreSQL would store a non-ASCII id as '?' in application_name: the node would look gone.
    const badNode = await runCli(['node', '--node-id', 'nœud-1', '--nats', world.nats.url, '--journal', world.journal]);
    expect(badNode.code).toBe(2);
    expect(badNode.stderr).toMatch(/node id is 1 to 48 letters/);
    for (const r of [noRun, badRun, notPg, missing, pipe, unknown, badNode])
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('cluster over NATS with TLS and a password', () => {
  let world: World;
  let small: Expected;

  beforeAll(async () => {
    world = await startWorld({ tlsUser: { user: 'payments', password: 's3cret-pw' } });
    small = await expectedRun(world, 'tls', 30_000, 21);
    startNode(world, 't1', { extra: ['--nats-ca', world.nats.ca!] });
    startNode(world, 't2', { extra: ['--nats-ca', world.nats.ca!] });
  });
  afterAll(() => stopWorld(world));

  it('runs over tls:// with the CA made at test time', async () => {
    expect(world.nats.url).toMatch(/^tls:\/\/payments:/);
    const got = await submit(world, [small.input, '--run', 'tls1', '--shards', '4', '--nats-ca', world.nats.ca!]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(small.accounts);
  });

  it('a wrong password is one line, exit 2, without the password', async () => {
    const wrong = world.nats.url.replace('s3cret-pw', 'wrong-pw');
    const got = await submit(world, [small.input, '--run', 'tls2', '--nats-ca', world.nats.ca!], wrong);
    expect(got.code).toBe(2);
    expect(got.stdout).toBe('');
    const lines = got.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/refused the login/);
    expect(got.stderr).not.toMatch(/wrong-pw|s3cret-pw/);
  });

  it('a server certificate from an unknown CA is one line, exit 2', async () => {
    const got = await submit(world, [small.input, '--run', 'tls3']);
    expect(got.code).toBe(2);
    expect(got.stderr.trim().split('\n')).toHaveLength(1);
    expect(got.stderr).toMatch(/TLS/);
  });
});
