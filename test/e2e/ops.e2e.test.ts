/** Operator features: run report, metrics, progress bar, logs, configuration from the environment. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-ops-'));
const input = join(dir, 'generated.csv');

beforeAll(async () => {
  const gen = await runCli(['generate', '-n', '20000', '-c', '50', '--seed', '7', '--bad-rate', '0.05', input]);
  expect(gen.code).toBe(0);
});

describe('run report and metrics', () => {
  it('counts what the outputs hold', async () => {
    const [rejects, report, metrics] = ['rejects.csv', 'report.json', 'metrics.prom'].map((f) => join(dir, f));
    const result = await runCli([
      input,
      '--workers',
      '3',
      '--rejects',
      rejects!,
      '--report',
      report!,
      '--metrics',
      metrics!,
    ]);
    expect(result.code).toBe(0);
    const r = JSON.parse(readFileSync(report!, 'utf8'));
    const rejectedRows = readFileSync(rejects!, 'utf8').trim().split('\n').slice(1);
    const accountRows = result.stdout.trim().split('\n').slice(1);
    expect(r.schemaVersion).toBe(1);
    expect(r.rowsRead).toBe(20000);
    expect(r.rowsRejected).toBe(rejectedRows.length);
    expect(r.rowsAccepted + r.rowsRejected).toBe(r.rowsRead);
    expect(r.accounts).toBe(accountRows.length);
    expect(r.lockedAccounts).toBe(accountRows.filter((l) => l.endsWith(',true')).length);
    expect(r.workers).toBe(3);
    for (const [reason, count] of Object.entries(r.rejectedByReason)) {
      expect(rejectedRows.filter((l) => l.endsWith(`,${reason}`)).length, reason).toBe(count);
    }
    // Every malformed kind the generator makes shows up.
    for (const reason of [
      'malformed_row',
      'unknown_type',
      'invalid_client',
      'invalid_tx',
      'missing_amount',
      'invalid_amount',
      'duplicate_tx',
    ]) {
      expect(r.rejectedByReason[reason], reason).toBeGreaterThan(0);
    }
    expect(r.peakRssBytes).toBeGreaterThan(10e6);

    // Prometheus text format: comments, or `name{labels} value`.
    const text = readFileSync(metrics!, 'utf8');
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => l !== '')) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|NaN|\+Inf|-Inf))$/,
      );
    }
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (.+)$`, 'm').exec(text)?.[1]);
    expect(value('payments_rejections_total{reason="duplicate_tx"}')).toBe(r.rejectedByReason.duplicate_tx);
    expect(value('payments_rows_total{type="deposit"}')).toBe(r.rowsByType.deposit);
    expect(value('payments_accounts')).toBe(r.accounts);
    const batches = [0, 1, 2].map((shard) => value(`payments_batch_apply_seconds_count{shard="${shard}"}`));
    expect(batches.every((n) => n > 0)).toBe(true);
  });

  it('logs the report as one JSON line on stderr when it is not a terminal', async () => {
    const result = await runCli([input]);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: 'info', report: { rowsRead: 20000 } });
    expect(result.stderr).not.toMatch(/payments \[/); // no progress bar
  });

  it('--quiet leaves stderr empty', async () => {
    expect((await runCli([input, '--quiet'])).stderr).toBe('');
  });

  it('takes options from PAYMENTS_* environment variables', async () => {
    const report = join(dir, 'env-report.json');
    const result = await runCli([input, '--quiet'], { env: { PAYMENTS_WORKERS: '5', PAYMENTS_REPORT: report } });
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(report, 'utf8')).workers).toBe(5);
  });
});

describe('progress bar', () => {
  it('is drawn on stderr under a terminal', () => {
    // script(1) runs the CLI under a pseudo-terminal.
    const out = execFileSync('script', ['-qec', `${process.execPath} ${binPath} ${input} > /dev/null`, '/dev/null'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(out).toMatch(/payments \[.*\] 100% \| .* MB \| 20,000 rows/);
  });
  it('is absent under a terminal with --quiet', () => {
    const out = execFileSync(
      'script',
      ['-qec', `${process.execPath} ${binPath} ${input} --quiet > /dev/null`, '/dev/null'],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    expect(out).not.toMatch(/payments \[/);
  });
});

describe('errors', () => {
  it('show a stack trace only with --log-level debug', () => {
    const run = (extra: string[]) =>
      spawnSync(process.execPath, [binPath, '-', '--rejects', join(dir, 'x.csv'), ...extra], {
        input: `deposit,1,1,"${'x'.repeat(1_100_000)}`,
        encoding: 'utf8',
      });
    const plain = run([]);
    expect(plain.status).toBe(1);
    expect(JSON.parse(plain.stderr).msg).toMatch(/^stdin:1: a row longer than/);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    const debug = run(['--log-level', 'debug']);
    expect(debug.status).toBe(1);
    expect(JSON.parse(debug.stderr.trim().split('\n').pop()!).stack).toMatch(/\n\s+at /);
  });
});
