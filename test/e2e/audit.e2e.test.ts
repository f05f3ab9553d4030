/**
 * `payments audit` over a local run's JSON-lines log (--audit-log FILE, PAYMENTS_AUDIT_LOG): the
 * table, --json, --since, --action; its one-line refusals (exit 2); `payments roles`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectOneLine, repoRoot, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-audit-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sample = join(repoRoot, 'data/sample.csv');

describe('a local run with --audit-log', () => {
  const log = join(dir, 'audit.jsonl');

  it('records a run started and how it ended; payments audit prints them', async () => {
    const ok = await runCli([sample, '--audit-log', log, '--quiet']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8'));
    const missing = await runCli([join(dir, 'no-such.csv'), '--quiet'], { env: { PAYMENTS_AUDIT_LOG: log } });
    expect(missing.code).toBe(2);

    const table = await runCli(['audit', '--audit-log', log]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^at\s+action\s+phase\s+os_user\s+db_user\s+node\s+exit\s+args\s+error$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+run\\s+started\\s+${userInfo().username}\\s+-\\s+-\\s+-\\s+\\S*sample\\.csv`,
      ),
    );
    expect(lines[2]).toMatch(/\srun\s+ok\s.*\s0\s/);
    expect(lines[4]).toMatch(/\srun\s+failed\s.*\s2\s.*no-such\.csv.*no-such\.csv/);

    const json = await runCli(['audit', '--audit-log', log, '--json']);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.map((r) => `${r.phase}:${r.exitCode ?? '-'}`)).toEqual([
      'started:-',
      'ok:0',
      'started:-',
      'failed:2',
    ]);
    expect(records[0].actionId).toBe(records[1].actionId);
    expect(records[2].actionId).not.toBe(records[0].actionId);
    expect(records[3].error).toMatch(/no-such\.csv/);

    const later = await runCli(['audit', '--audit-log', log, '--json', '--since', records[2].at]);
    expect(later.stdout.trim().split('\n')).toHaveLength(2);
    const future = await runCli(['audit', '--audit-log', log, '--since', '2999-01-01']);
    expect(future.stdout.trim().split('\n')).toHaveLength(1); // the header alone
    const none = await runCli(['audit', '--audit-log', log, '--action', 'submit', '--json']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
  });

  it('a run whose log cannot be written does not run (exit 2, one line)', async () => {
    const result = await runCli([sample, '--audit-log', join(dir, 'nodir', 'a.jsonl')]);
    // Checked with the other outputs, before the log's first record and before the input is read.
    expectOneLine(result, 2, /--audit-log .*nodir\/a\.jsonl: the directory .*nodir does not exist/);
    expect(result.stdout).toBe('');
  });
});

describe('payments audit refuses, in one line (exit 2)', () => {
  const foreign = join(dir, 'foreign.jsonl');
  writeFileSync(foreign, 'client,available,held,total,locked\n1,1.0,0,1.0,false\n');
  const cases: [string, string[], RegExp][] = [
    ['no source', ['audit'], /audit needs --journal postgres:\/\/… or --audit-log FILE/],
    ['a SQLite journal', ['audit', '--journal', dir], /a SQLite journal keeps no audit log/],
    ['a missing file', ['audit', '--audit-log', join(dir, 'none.jsonl')], /none\.jsonl: no such file/],
    ['a foreign file', ['audit', '--audit-log', foreign], /line 1 is not a payments audit record/],
    ['a bad --since', ['audit', '--audit-log', foreign, '--since', 'yesterday'], /--since yesterday: not an ISO 8601/],
    [
      'an unknown --action',
      ['audit', '--audit-log', foreign, '--action', 'rm'],
      /--action rm: one of migrate, run, submit/,
    ],
    ['two sources', ['audit', '--audit-log', foreign, '--journal', 'postgres://h/db'], /name two logs: give one/],
  ];
  for (const [what, args, pattern] of cases) {
    it(what, async () => expectOneLine(await runCli(args), 2, pattern));
  }
});

describe('payments roles', () => {
  it('prints the grant script for the named roles', async () => {
    const result = await runCli(['roles', '--node', 'n1', '--auditor', 'a1', '--migrator', 'm1']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^BEGIN;$/m);
    expect(result.stdout).toMatch(/^GRANT INSERT ON payments_audit\.log TO n1;$/m);
    expect(result.stdout).toMatch(/^GRANT SELECT ON payments\.events, payments_audit\.log TO a1;$/m);
    expect(result.stdout).not.toMatch(/^GRANT .*(UPDATE|DELETE).* payments_audit/m);
  });

  it('refuses a role name that is not a plain identifier', async () => {
    expectOneLine(await runCli(['roles', '--node', 'x; DROP TABLE y']), 2, /--node x; DROP TABLE y: a role name/);
  });
});
