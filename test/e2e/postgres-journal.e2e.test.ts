/**
 * The durable journal in PostgreSQL, through the CLI as a user runs it, held to the SQLite
 * journal's contract (test/e2e/journal.e2e.test.ts): SIGKILL at random points and resume, a
 * finished journal run again, damaged rows, another input, a newer schema, graceful stop, the shard
 * count kept, replay (whole and --as-of-line) and inspect; plus what only a server has: a restart
 * and a terminated connection in the middle of a run, a wrong password, and a role without rights.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { restartServer, startServer, stopServer } from '../../scripts/test-postgres.mjs';
import { binPath, repoRoot, runCli } from '../helpers/cli.js';
import { freshDatabase, terminateBackends, until, urlFor, withAdmin } from '../helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-pg-journal-'));
const input = join(dir, 'input.csv');
const reference = { accounts: '', rejects: '', records: 0 };
let database: string;

const journalUrl = (journal: string, params: Record<string, string> = {}) =>
  urlFor(database, { params: { journal, ...params } });

async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = [], db = database): Promise<T[]> {
  return withAdmin(async (c) => (await c.query(sql, params)).rows as T[], db);
}

/** Starts the CLI; once `ready()` holds (polled), waits `delayMs` and sends `signal`. */
function runAndSignal(
  args: string[],
  delayMs: number,
  signal: NodeJS.Signals,
  ready: () => Promise<boolean> = async () => true,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let done = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    void (async () => {
      await until(async () => done || (await ready().catch(() => false)));
      await new Promise((r) => setTimeout(r, delayMs));
      if (!done) child.kill(signal);
    })();
    child.on('close', (code, sig) => {
      done = true;
      resolve({ code, signal: sig, stderr });
    });
  });
}

/** Whether the journal has committed at least one batch (the run is under way). */
const underWay =
  (journal: string, db = () => database) =>
  async () =>
    (
      await query<{ n: number }>('SELECT count(*)::int AS n FROM payments.batches WHERE journal = $1', [journal], db())
    )[0]!.n > 0;

async function finish(location: string, extra: string[] = []) {
  const rejects = join(dir, 'rejects.csv');
  const report = join(dir, 'report.json');
  const result = await runCli([input, '--journal', location, '--rejects', rejects, '--report', report, ...extra]);
  expect(result.code, result.stderr).toBe(0);
  return {
    accounts: result.stdout,
    rejects: readFileSync(rejects, 'utf8'),
    records: JSON.parse(readFileSync(report, 'utf8')).journalRecords as number,
    stderr: result.stderr,
  };
}

function expectReference(run: { accounts: string; rejects: string; records: number }) {
  expect(run.accounts).toBe(reference.accounts);
  expect(run.rejects).toBe(reference.rejects);
  expect(run.records).toBe(reference.records); // none lost, none twice
}

/** Every partition's records are exactly 1..n, once each. */
async function expectGapless(journal: string, db = database) {
  const rows = await query<{ partition: number; n: number; d: number; m: number }>(
    'SELECT partition, count(*)::int AS n, count(DISTINCT seq)::int AS d, max(seq)::int AS m FROM payments.records WHERE journal = $1 GROUP BY partition',
    [journal],
    db,
  );
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) expect([r.n, r.d]).toEqual([r.m, r.m]);
}

beforeAll(async () => {
  database = await freshDatabase('e2e');
  expect(
    (await runCli(['generate', '-n', '200000', '-c', '2000', '--seed', '11', '--bad-rate', '0.02', input])).code,
  ).toBe(0);
  const rejects = join(dir, 'ref-rejects.csv');
  const plain = await runCli([input, '--rejects', rejects, '--quiet']);
  expect(plain.code).toBe(0);
  reference.accounts = plain.stdout;
  reference.rejects = readFileSync(rejects, 'utf8');
  reference.records = (await finish(journalUrl('uninterrupted'))).records;
});

describe('crash and resume', () => {
  it('gives the uninterrupted output after SIGKILLs at random points', async () => {
    let seed = 20261128;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 2; trial++) {
      const journal = `crash-${trial}`;
      for (let kill = 0; kill < 3; kill++) {
        const killed = await runAndSignal(
          [input, '--journal', journalUrl(journal), '--quiet'],
          random() * 600,
          'SIGKILL',
          underWay(journal),
        );
        if (killed.code === 0) break; // finished before the kill
      }
      expectReference(await finish(journalUrl(journal)));
      await expectGapless(journal);
    }
  });

  it('runs a finished journal again without applying anything', async () => {
    const again = await finish(journalUrl('uninterrupted'));
    expectReference(again);
    expect(again.stderr).toMatch(/its run had finished; nothing will be applied again/);
  });

  it('takes the URL from PAYMENTS_JOURNAL', async () => {
    const rejects = join(dir, 'env-rejects.csv');
    const result = await runCli([input, '--rejects', rejects], {
      env: { PAYMENTS_JOURNAL: journalUrl('uninterrupted') },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(reference.accounts);
  });
});

describe('a journal that cannot be trusted: exit 2, never used', () => {
  it('a record changed by hand', async () => {
    await finish(journalUrl('damaged'));
    await query(
      "UPDATE payments.records SET amount = amount + 1 WHERE journal = 'damaged' AND partition = 1 AND seq = 5",
    );
    const result = await runCli([input, '--journal', journalUrl('damaged')]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/partition 1: the batch at line \d+ \(seq 1\) fails its checksum/);
    const replay = await runCli(['replay', '--journal', journalUrl('damaged'), '--as-of-line', '10']);
    expect(replay.code).toBe(2);
  });

  it('a journal written for another input', async () => {
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'type,client,tx,amount\ndeposit,1,1,1\n');
    const result = await runCli([other, '--journal', journalUrl('uninterrupted')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/written for a different input/);
  });

  it('a database whose payments schema is newer', async () => {
    const db = await freshDatabase('e2e_newer');
    const url = urlFor(db, { params: { journal: 'j' } });
    expect((await runCli([input, '--journal', url, '--quiet'])).code).toBe(0);
    await query("INSERT INTO payments.schema_migrations (version, description) VALUES (999, 'future')", [], db);
    for (const args of [
      [input, '--journal', url],
      ['replay', '--journal', url],
      ['inspect', '--journal', url],
    ]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/schema is version 999, newer than this program's/);
    }
  });

  it('a wrong password: exit 2, one line, no password', async () => {
    const secret = 'definitely-wrong-9d1';
    const url = urlFor(database, { password: secret, params: { journal: 'pw' } });
    for (const args of [
      [input, '--journal', url],
      ['replay', '--journal', url],
    ]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/password authentication failed/);
      expect(result.stderr).not.toContain(secret);
      expect(result.stdout).toBe('');
    }
  });

  it('a role without rights: exit 2, saying what it needs', async () => {
    const secret = 'weak-role-pw-e2e';
    await withAdmin(async (c) => {
      await c.query('DROP ROLE IF EXISTS payments_e2e_weak');
      await c.query(`CREATE ROLE payments_e2e_weak LOGIN PASSWORD '${secret}'`);
    });
    const url = urlFor(database, { user: 'payments_e2e_weak', password: secret, params: { journal: 'weak' } });
    const result = await runCli([input, '--journal', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/permission denied.*the role needs/);
    expect(result.stderr).not.toContain(secret);
  });
});

describe('graceful stop', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s: drains, commits, says how to resume, exits %d; the resumed run is exact',
    async (signal, exitCode) => {
      const journal = `stop-${signal}`;
      const stopped = await runAndSignal([input, '--journal', journalUrl(journal)], 50, signal, underWay(journal));
      expect(stopped.code).toBe(exitCode);
      expect(stopped.stderr).toMatch(
        /stopped by SIG(TERM|INT) after line \d+: the journal holds every row up to line \d+/,
      );
      expectReference(await finish(journalUrl(journal)));
    },
  );

  it('resumes with the shard count the journal was written with, whatever --workers says', async () => {
    const journal = 'shards';
    await runAndSignal(
      [input, '--journal', journalUrl(journal), '--workers', '3', '--quiet'],
      100,
      'SIGKILL',
      underWay(journal),
    );
    const resumed = await finish(journalUrl(journal), ['--workers', '1']);
    expect(resumed.accounts).toBe(reference.accounts);
    expect(resumed.rejects).toBe(reference.rejects);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).workers).toBe(3);
  });
});

describe('replay and inspect', () => {
  it('replay of the whole journal equals the original output', async () => {
    const replay = await runCli(['replay', '--journal', journalUrl('uninterrupted')]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(reference.accounts);
  });

  it('replay --as-of-line N equals running the engine on the first N lines', async () => {
    const lines = readFileSync(input, 'utf8').split('\n');
    for (const n of [1, 777, 150_000, 199_999]) {
      const prefix = join(dir, `prefix-${n}.csv`);
      writeFileSync(prefix, lines.slice(0, n).join('\n') + '\n');
      const engine = await runCli([prefix, '--quiet']);
      const replay = await runCli(['replay', '--journal', journalUrl('uninterrupted'), '--as-of-line', String(n)]);
      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout, `line ${n}`).toBe(engine.stdout);
    }
  });

  it("inspect --client lists that client's records in input order, as SQL sees them", async () => {
    const result = await runCli(['inspect', '--journal', journalUrl('uninterrupted'), '--client', '7']);
    expect(result.code, result.stderr).toBe(0);
    const rows = result.stdout.trim().split('\n');
    expect(rows[0]).toBe('partition,seq,line,record,type,client,tx,amount,reason');
    const records = rows.slice(1).map((r) => r.split(','));
    expect(records.length).toBeGreaterThan(10);
    expect(records.every((r) => r[5] === '7')).toBe(true);
    // The auditor's query gives the same records, in the same order, with the same words.
    const sql = await query<Record<string, string | null>>(
      "SELECT partition, seq, line, record, type, client, tx, amount::text, reason FROM payments.events WHERE journal = 'uninterrupted' AND client = 7 ORDER BY line",
    );
    expect(sql.map((r) => Object.values(r).map((v) => (v === null ? '' : String(v))))).toEqual(records);
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
    const rejects = join(dir, 'restart-rejects.csv');
    const child = runCli([input, '--journal', ownUrl('restart'), '--rejects', rejects, '--log-level', 'warn']);
    await until(ownUnderWay('restart'));
    restartServer(server);
    const result = await child;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(reference.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(reference.rejects);
    expect(result.stderr).toMatch(/retry/i);
    expect(result.stderr).not.toContain(new URL(server.url).password);
  });

  it('backends terminated mid-run (pg_terminate_backend) are reconnected, nothing applied twice', async () => {
    const rejects = join(dir, 'cut-rejects.csv');
    const report = join(dir, 'cut-report.json');
    const child = runCli([input, '--journal', ownUrl('cut'), '--rejects', rejects, '--report', report, '--quiet']);
    await until(ownUnderWay('cut'));
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    await c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'payments cut shard%'",
    );
    await c.end();
    const result = await child;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(reference.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(reference.rejects);
    expect(JSON.parse(readFileSync(report, 'utf8')).journalRecords).toBe(reference.records);
  });

  it('a server that stays away past the bound: exit 1, one line saying what to do, nothing on stdout', async () => {
    const url = new URL(ownUrl('gone'));
    url.port = '1';
    url.searchParams.set('retry_seconds', '1');
    const result = await runCli([input, '--journal', url.toString()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/could not reconnect within 1 s.*run the same command again/);
    expect(result.stderr).not.toContain(new URL(server.url).password);
  });
});

afterAll(async () => {
  await terminateBackends('payments %');
  rmSync(dir, { recursive: true, force: true });
});
