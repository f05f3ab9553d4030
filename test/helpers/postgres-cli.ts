/**
 * The CLI over a PostgreSQL journal, as the e2e and fault tests drive it: a generated input and
 * its uninterrupted reference output, journal URLs in a database of the test file's own, runs
 * signalled once the journal is under way, and checks on what the database holds.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { binPath, repoRoot, runCli } from './cli.js';
import { freshDatabase, terminateBackends, until, urlFor, withAdmin } from './postgres.js';

export interface Finished {
  accounts: string;
  rejects: string;
  records: number;
  stderr: string;
}

export class PostgresCliFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'payments-pg-cli-'));
  readonly input = join(this.dir, 'input.csv');
  readonly reference = { accounts: '', rejects: '', records: 0 };
  database = '';

  /** Generates the input, its reference (no journal) and one finished journal named `uninterrupted`. */
  async setUp(prefix: string, rows: number): Promise<void> {
    this.database = await freshDatabase(prefix);
    const generated = await runCli([
      'generate',
      '-n',
      String(rows),
      '-c',
      '2000',
      '--seed',
      '11',
      '--bad-rate',
      '0.02',
      this.input,
    ]);
    expect(generated.code, generated.stderr).toBe(0);
    const rejects = join(this.dir, 'ref-rejects.csv');
    const plain = await runCli([this.input, '--rejects', rejects, '--quiet']);
    expect(plain.code).toBe(0);
    this.reference.accounts = plain.stdout;
    this.reference.rejects = readFileSync(rejects, 'utf8');
    this.reference.records = (await this.finish(this.url('uninterrupted'))).records;
  }

  async tearDown(): Promise<void> {
    await terminateBackends('payments %', this.database);
    rmSync(this.dir, { recursive: true, force: true });
  }

  url(journal: string, params: Record<string, string> = {}): string {
    return urlFor(this.database, { params: { journal, ...params } });
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = [], db = this.database): Promise<T[]> {
    return withAdmin(async (c) => (await c.query(sql, params)).rows as T[], db);
  }

  /** Whether the journal has committed at least one batch (the run is under way). */
  underWay(journal: string): () => Promise<boolean> {
    return async () =>
      (
        await this.query<{ n: number }>('SELECT count(*)::int AS n FROM payments.batches WHERE journal = $1', [journal])
      )[0]!.n > 0;
  }

  /** Runs to the end with --rejects and --report; exit 0 expected. */
  async finish(location: string, extra: string[] = []): Promise<Finished> {
    const rejects = join(this.dir, 'rejects.csv');
    const report = join(this.dir, 'report.json');
    const result = await runCli([
      this.input,
      '--journal',
      location,
      '--rejects',
      rejects,
      '--report',
      report,
      ...extra,
    ]);
    expect(result.code, result.stderr).toBe(0);
    return {
      accounts: result.stdout,
      rejects: readFileSync(rejects, 'utf8'),
      records: JSON.parse(readFileSync(report, 'utf8')).journalRecords as number,
      stderr: result.stderr,
    };
  }

  expectReference(run: { accounts: string; rejects: string; records: number }): void {
    expect(run.accounts).toBe(this.reference.accounts);
    expect(run.rejects).toBe(this.reference.rejects);
    expect(run.records).toBe(this.reference.records); // none lost, none twice
  }

  /** Every partition's records are exactly seq 1..n, once each. */
  async expectGapless(journal: string): Promise<void> {
    const rows = await this.query<{ n: number; d: number; m: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d, max(seq)::int AS m FROM payments.events WHERE journal = $1 GROUP BY partition',
      [journal],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect([r.n, r.d]).toEqual([r.m, r.m]);
  }
}

/** Starts the CLI; once `ready()` holds (polled), waits `delayMs` and sends `signal`. */
export function runAndSignal(
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

/**
 * Starts the CLI; once `ready()` holds, blocks every journal commit (a lock on payments.batches, held
 * from another session), sends `signal`, and lets the commits go once the CLI says it is stopping:
 * the signal always lands while the run is under way, however fast the run is.
 */
export async function runBlockedAndSignal(
  args: string[],
  signal: NodeJS.Signals,
  database: string,
  ready: () => Promise<boolean>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const holder = new pg.Client({ connectionString: urlFor(database) });
  await holder.connect();
  try {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let closed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<void>((resolve) =>
      child.on('close', (code, sig) => {
        closed = { code, signal: sig };
        resolve();
      }),
    );
    await until(async () => closed !== undefined || (await ready().catch(() => false)));
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
    child.kill(signal);
    await until(() => closed !== undefined || stderr.includes('stopping after the batches in flight'));
    await holder.query('COMMIT');
    await done;
    return { code: closed!.code, signal: closed!.signal, stderr };
  } finally {
    await holder.end();
  }
}
