/**
 * The longer fault runs of the PostgreSQL journal through the CLI (`npm run test:faults`, also run
 * by CI): SIGKILLs at random points, SIGINT, a resumed journal keeping its shard count, a
 * PostgreSQL restart and terminated backends in the middle of a run, a server that stops answering,
 * and a server that stays away past the retry bound.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { restartServer, startServer, stopServer } from '../../scripts/test-postgres.mjs';
import { errorLine, runCli } from '../helpers/cli.js';
import { PostgresCliFixture, runAndSignal } from '../helpers/postgres-cli.js';
import { until } from '../helpers/postgres.js';

const f = new PostgresCliFixture();
beforeAll(() => f.setUp('faults', 200_000));
afterAll(() => f.tearDown());

describe('kills and signals', () => {
  it('gives the uninterrupted output after SIGKILLs at random points', async () => {
    let seed = 20261128;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 3; trial++) {
      const journal = `crash-${trial}`;
      for (let kill = 0; kill < 3; kill++) {
        const killed = await runAndSignal(
          [f.input, '--journal', f.url(journal), '--quiet'],
          random() * 600,
          'SIGKILL',
          f.underWay(journal),
        );
        if (killed.code === 0) break; // finished before the kill
      }
      f.expectReference(await f.finish(f.url(journal)));
      await f.expectGapless(journal);
    }
  });

  it('SIGINT: drains, commits, exits 130; the resumed run is exact', async () => {
    const stopped = await runAndSignal([f.input, '--journal', f.url('sigint')], 50, 'SIGINT', f.underWay('sigint'));
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/stopped by SIGINT after line \d+: the journal holds every row up to line \d+/);
    f.expectReference(await f.finish(f.url('sigint')));
  });

  it('resumes with the shard count the journal was written with, whatever --workers says', async () => {
    const journal = 'shards';
    await runAndSignal(
      [f.input, '--journal', f.url(journal), '--workers', '3', '--quiet'],
      100,
      'SIGKILL',
      f.underWay(journal),
    );
    const resumed = await f.finish(f.url(journal), ['--workers', '1']);
    expect(resumed.accounts).toBe(f.reference.accounts);
    expect(resumed.rejects).toBe(f.reference.rejects);
    expect(JSON.parse(readFileSync(join(f.dir, 'report.json'), 'utf8')).workers).toBe(3);
  });
});

describe('a server fault in the middle of a run', () => {
  let server: { url: string; dir: string; dataDir: string; port: number; bin: string };
  beforeAll(async () => {
    server = await startServer({}); // its own server: a restart must not cut other test files
  });
  afterAll(() => stopServer(server));

  const ownUrl = (journal: string) => {
    const url = new URL(server.url);
    url.searchParams.set('journal', journal);
    return url.toString();
  };
  const ownUnderWay = (journal: string) => async () => {
    const c = new pg.Client({ connectionString: server.url });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const r = await c.query("SELECT to_regclass('payments.batches') IS NOT NULL AS ok");
      if (!r.rows[0].ok) return false;
      return (
        (await c.query('SELECT count(*)::int AS n FROM payments.batches WHERE journal = $1', [journal])).rows[0].n > 0
      );
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  it('a PostgreSQL restart is survived within the retry bound, with the uninterrupted output', async () => {
    const rejects = join(f.dir, 'restart-rejects.csv');
    const child = runCli([f.input, '--journal', ownUrl('restart'), '--rejects', rejects, '--log-level', 'warn']);
    await until(ownUnderWay('restart'));
    restartServer(server);
    const result = await child;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(f.reference.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(f.reference.rejects);
    expect(result.stderr).toMatch(/lost the server .*; retry 1 in \d+ ms/);
    expect(result.stderr).not.toContain(new URL(server.url).password);
  });

  it('backends terminated mid-run (pg_terminate_backend) are reconnected, nothing applied twice', async () => {
    const rejects = join(f.dir, 'cut-rejects.csv');
    const report = join(f.dir, 'cut-report.json');
    const child = runCli([f.input, '--journal', ownUrl('cut'), '--rejects', rejects, '--report', report, '--quiet']);
    await until(ownUnderWay('cut'));
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    await c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'payments cut shard%'",
    );
    await c.end();
    const result = await child;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(f.reference.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(f.reference.rejects);
    expect(JSON.parse(readFileSync(report, 'utf8')).journalRecords).toBe(f.reference.records);
  });

  it('a server that stops answering mid-run: exit 1 within the bound, not a wait for ever; the rerun is exact', async () => {
    const url = new URL(ownUrl('silent'));
    url.searchParams.set('retry_seconds', '3');
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    let stopped: number[] = [];
    try {
      expect((await runCli(['migrate', '--journal', url.toString()])).code).toBe(0);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
      const child = runCli([f.input, '--journal', url.toString(), '--quiet']);
      // Its first commit waits on the lock; then its sessions stop answering (as a frozen host's do).
      await until(async () => {
        const r = await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'payments silent shard%'",
        );
        return r.rowCount! > 0;
      });
      const sessions = await admin.query(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'payments silent shard%' OR application_name LIKE 'payments run %'",
      );
      stopped = sessions.rows.map((r) => r.pid as number);
      for (const pid of stopped) process.kill(pid, 'SIGSTOP');
      await holder.query('COMMIT');
      const result = await child;
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe('');
      // Its query with no answer counts as a lost connection: a new one is opened, which finds the
      // partition still held by the session that stopped answering.
      expect(result.stderr).toMatch(
        /lost the server \(the server sent nothing for 5 s while a query waited\); retry 1/,
      );
      expect(errorLine(result.stderr)).toMatch(/still held by another session since this run's connection was lost/);
    } finally {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
      await holder.end().catch(() => undefined);
      await admin.end().catch(() => undefined);
    }
    const rerun = await runCli([f.input, '--journal', url.toString(), '--quiet']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(f.reference.accounts);
  });

  it('a server that stays away past the bound: exit 1, one line saying what to do, nothing on stdout', async () => {
    const url = new URL(ownUrl('gone'));
    url.port = '1';
    url.searchParams.set('retry_seconds', '1');
    const result = await runCli([f.input, '--journal', url.toString()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /could not reach the server within 1 s while .*run the same command again once the server is up/,
    );
    expect(result.stderr).not.toContain(new URL(server.url).password);
  });
});
