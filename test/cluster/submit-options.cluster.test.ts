/**
 * `submit` and `result` take the single-process run's input options and handle their outputs the
 * same way: --delimiter (recorded with the run, so `result --rejects` reads the input as
 * submit did), -o/--rejects checked before any work and written atomically, files renamed only after
 * standard output was written.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';
import {
  expectedRun,
  startNode,
  startWorld,
  stopWorld,
  submit,
  type Expected,
  withDb,
  type World,
} from '../helpers/cluster.js';

describe('submit and result: the single run’s options', () => {
  let world: World;
  let base: Expected;
  /** The same rows with ';' between fields, and the single run's answers for it (`payments -d ';'`). */
  let semi: { input: string; accounts: string; rejects: string };

  beforeAll(async () => {
    world = await startWorld();
    base = await expectedRun(world, 'opts', 40_000, 71);
    const input = join(world.dir, 'semi.csv');
    writeFileSync(input, readFileSync(base.input, 'utf8').replaceAll(',', ';'));
    const rejects = join(world.dir, 'semi.expected-rejects.csv');
    const single = await runCli(['-q', input, '-d', ';', '--rejects', rejects]);
    expect(single.code).toBe(0);
    semi = { input, accounts: single.stdout, rejects: readFileSync(rejects, 'utf8') };
    for (const id of ['o1', 'o2']) startNode(world, id);
  });
  afterAll(() => stopWorld(world));

  it('--delimiter: the same bytes as `payments -d`; without it, the same exit 2 as the single run', async () => {
    const without = await submit(world, [semi.input, '--run', 'semi', '--shards', '4']);
    const singleWithout = await runCli(['-q', semi.input]);
    expect(without.code).toBe(2);
    expect(singleWithout.code).toBe(2);
    expect(without.stderr.trim().split('\n')).toHaveLength(1);
    expect(without.stderr).toMatch(/looks ';'-separated; try --delimiter ';'/);
    // Nothing was made (no journal, no run for the nodes) and nothing published: the same run takes the right delimiter now.
    const made = await withDb(world, async (c) => {
      const found: string[] = [];
      // The tables may not exist yet (the nodes make them as they join).
      for (const table of ['payments.journals', 'payments_cluster.runs']) {
        const exists = (await c.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null;
        if (exists && (await c.query(`SELECT 1 FROM ${table} WHERE name = 'semi'`)).rowCount! > 0) found.push(table);
      }
      return found;
    });
    expect(made).toEqual([]);
    const rejects = join(world.dir, 'semi.rejects.csv');
    const got = await submit(world, [semi.input, '--run', 'semi', '-d', ';', '--rejects', rejects]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(semi.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(semi.rejects);
    // `result` reads the input again with the delimiter the run was submitted with.
    const later = join(world.dir, 'semi.later.csv');
    const result = await runCli(['result', '--run', 'semi', '--journal', world.journal, '--rejects', later]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(semi.accounts);
    expect(readFileSync(later, 'utf8')).toBe(semi.rejects);
    // Without -d the file's first line is judged as for any run: exit 2, the same words.
    const plain = await submit(world, [semi.input, '--run', 'semi']);
    expect(plain.code).toBe(2);
    expect(errorLine(plain.stderr)).toMatch(/looks ';'-separated; try --delimiter ';'/);
    // The run keeps its delimiter: another one is exit 2 naming it.
    const other = await submit(world, [semi.input, '--run', 'semi', '-d', 'tab']);
    expect(other.code).toBe(2);
    expect(errorLine(other.stderr)).toMatch(/^payments: run semi was submitted with --delimiter ';'/);
  });

  it('-o and --rejects: written whole, nothing on standard output', async () => {
    const out = join(world.dir, 'o.accounts.csv');
    const rejects = join(world.dir, 'o.rejects.csv');
    const got = await submit(world, [base.input, '--run', 'o', '-o', out, '--rejects', rejects]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe(base.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(base.rejects);
    expect(readdirSync(world.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('--report and --metrics: the single run’s counts, the cluster’s timings and shard states', async () => {
    const report = join(world.dir, 'r.report.json');
    const metrics = join(world.dir, 'r.metrics.prom');
    const singleReport = join(world.dir, 'r.single-report.json');
    expect((await runCli(['-q', base.input, '--report', singleReport])).code).toBe(0);
    const single = JSON.parse(readFileSync(singleReport, 'utf8'));
    const got = await submit(world, [
      base.input,
      '--run',
      'r',
      '--shards',
      '3',
      '--report',
      report,
      '--metrics',
      metrics,
    ]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(base.accounts);
    const r = JSON.parse(readFileSync(report, 'utf8'));
    for (const key of [
      'rowsRead',
      'rowsAccepted',
      'rowsRejected',
      'rejectedByReason',
      'rowsByType',
      'accounts',
      'lockedAccounts',
    ])
      expect(r[key], key).toEqual(single[key]);
    expect(r.rowsRejected).toBeGreaterThan(0);
    expect(r).toMatchObject({ run: 'r', sent: true, batches: expect.any(Number) });
    expect(r.batches).toBeGreaterThan(0);
    expect(r.shards).toEqual([0, 1, 2].map((shard) => ({ shard, state: 'finished', node: expect.any(String) })));
    const text = readFileSync(metrics, 'utf8');
    expect(text).toContain(`payments_rows_accepted_total{run="r"} ${single.rowsAccepted}`);
    expect(text).toContain('payments_submit_shards{state="finished",run="r"} 3');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    // Again on the finished run: printed from the journal, the same counts, nothing sent.
    const again = await submit(world, [base.input, '--run', 'r', '--report', report]);
    expect(again.code).toBe(0);
    const r2 = JSON.parse(readFileSync(report, 'utf8'));
    expect(r2).toMatchObject({ sent: false, batches: 0, rowsRead: single.rowsRead, accounts: single.accounts });
    // Not with --detach, and checked like every output before anything is sent.
    const detached = await submit(world, [base.input, '--run', 'r2', '--detach', '--report', report]);
    expect(detached.code).toBe(2);
    expect(errorLine(detached.stderr)).toMatch(/--report and --metrics need the run finished/);
    const onInput = await submit(world, [base.input, '--run', 'r3', '--metrics', base.input]);
    expect(onInput.code).toBe(2);
    expect(errorLine(onInput.stderr)).toMatch(/--metrics/);
  });

  it('a complete run is printed from the journal alone; --delete-stream removes its stream', async () => {
    const streamExists = async () => {
      const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
      try {
        const jsm = await jetstreamManager(nc);
        return await jsm.streams.info('PAYMENTS_o').then(
          () => true,
          () => false,
        );
      } finally {
        await nc.close();
      }
    };
    expect(await streamExists()).toBe(true); // run `o`, finished above
    const rejects = join(world.dir, 'o.again.rejects.csv');
    const again = await submit(world, [base.input, '--run', 'o', '--rejects', rejects, '--delete-stream']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(base.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(base.rejects);
    expect(again.stderr).toMatch(/nothing is sent again/);
    expect(again.stderr).toMatch(/stream deleted/);
    expect(await streamExists()).toBe(false);
    const third = await submit(world, [base.input, '--run', 'o']);
    expect(third.code).toBe(0);
    expect(third.stdout).toBe(base.accounts);
    expect(await streamExists()).toBe(false); // nothing was sent, no stream made again
    const detached = await submit(world, [base.input, '--run', 'o', '--detach', '--delete-stream']);
    expect(detached.code).toBe(2);
    expect(detached.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('bad output paths are exit 2 before anything is sent, as for the single run, naming a variable', async () => {
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [['-o', base.input], /--output .*input/],
      [['--rejects', join(world.dir, 'same.csv'), '-o', join(world.dir, 'same.csv')], /same/],
      [['--rejects', join(world.dir, 'missing-dir', 'r.csv')], /--rejects/],
      [[], /PAYMENTS_REJECTS/, { PAYMENTS_REJECTS: base.input }],
      // The batch a shard's owner resumes from stays in its subject: a limit of 1 would never have room.
      [['--max-lag', '1'], /--max-lag 1: --max-lag must be a whole number from 2 to/],
    ];
    for (const [args, message, env] of cases) {
      const got = await runCli(
        ['submit', base.input, '--run', 'bad', ...args, '--nats', world.nats.url, '--journal', world.journal],
        { env },
      );
      expect(got.code, got.stderr).toBe(2);
      expect(got.stderr.trim().split('\n')).toHaveLength(1);
      expect(got.stderr).toMatch(message);
    }
    // Nothing was registered under that run.
    const none = await runCli(['result', '--run', 'bad', '--journal', world.journal]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/not found/);
  });

  it('result: its outputs are checked against the input it reads again, the submitted one by default', async () => {
    const input = join(world.dir, 'again.csv');
    copyFileSync(base.input, input);
    expect((await submit(world, [input, '--run', 'again'])).code).toBe(0);
    const result = (args: string[]) => runCli(['result', '--run', 'again', '--journal', world.journal, ...args]);
    for (const args of [
      ['--rejects', input],
      ['-o', input],
      ['--rejects', base.input, '--input', base.input],
    ]) {
      const got = await result(args);
      expect(got.code, got.stderr).toBe(2);
      expect(got.stdout).toBe('');
      expect(errorLine(got.stderr)).toMatch(
        /^payments: --(rejects|output) .*(again|opts)\.csv: is the same file as the input/,
      );
    }
    const appended = spawnSync(
      'bash',
      ['-c', `node '${binPath}' result --run again --journal '${world.journal}' >> '${input}'`],
      {
        encoding: 'utf8',
      },
    );
    expect(appended.status).toBe(2);
    expect(errorLine(appended.stderr)).toMatch(/standard output is the same file as the input/);
    expect(readFileSync(input, 'utf8')).toBe(readFileSync(base.input, 'utf8'));
    // --input names the file read again: the submitted path is then free to be written.
    const other = join(world.dir, 'again.rejects.csv');
    const got = await result(['--rejects', other, '--input', input]);
    expect(got.code).toBe(0);
    expect(readFileSync(other, 'utf8')).toBe(base.rejects);
  });

  it('standard output failing (/dev/full) leaves no rejects file: files are renamed only after it', async () => {
    await submit(world, [base.input, '--run', 'full']); // the run, finished
    const rejects = join(world.dir, 'full.rejects.csv');
    const full = openSync('/dev/full', 'w');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [binPath, 'submit', base.input, '--run', 'full', '--rejects', rejects, '--nats', world.nats.url],
        { cwd: repoRoot, stdio: ['ignore', full, 'ignore'], env: { ...process.env, PAYMENTS_JOURNAL: world.journal } },
      );
      child.on('close', (c) => resolve(c));
    });
    closeSync(full);
    expect(code).toBe(1);
    expect(existsSync(rejects)).toBe(false);
    expect(readdirSync(world.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
