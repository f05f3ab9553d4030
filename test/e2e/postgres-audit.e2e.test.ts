/**
 * The operator commands write the PostgreSQL audit log (payments_audit.log) as a user runs them:
 * `submit`, `result`, `shards --retry`, `convert`, `migrate`, a node's join, each `started` then
 * its outcome, also when they fail; `payments audit --journal` prints them. No secret reaches the
 * log: not a URL's password, not a token file's content.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { binPath, expectOneLine, repoRoot, runCli } from '../helpers/cli.js';
import { freshDatabase, testServer, urlFor, withAdmin } from '../helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-pg-audit-'));
const sample = join(repoRoot, 'data/sample.csv');
const natsSecret = 'nats-pw-never-logged';
const tokenSecret = 'token-content-never-logged';
const deadNats = `nats://op:${natsSecret}@127.0.0.1:1`;
let database = '';
let pgPassword = '';

const url = (journal = 'audited') => urlFor(database, { params: { journal } });

interface Row {
  action: string;
  phase: string;
  exit_code: number | null;
  node: string | null;
  db_user: string;
  os_user: string;
  args: string[];
  error: string | null;
}
const rows = () =>
  withAdmin(
    async (c) =>
      (
        await c.query<Row>(
          'SELECT action, phase, exit_code, node, db_user, os_user, args, error FROM payments_audit.log ORDER BY id',
        )
      ).rows,
    database,
  );
const everything = () =>
  withAdmin(async (c) => JSON.stringify((await c.query('SELECT * FROM payments_audit.log')).rows), database);

beforeAll(async () => {
  database = await freshDatabase('audit_e2e');
  pgPassword = decodeURIComponent(new URL(testServer().url).password);
  expect(pgPassword).not.toBe('');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('operator commands in the audit log', () => {
  it('migrate, then result and shards --retry of a run that is not there: started, then failed (exit 2)', async () => {
    expect((await runCli(['migrate', '--journal', url()])).code).toBe(0);
    expect((await runCli(['result', '--run', 'nosuch', '--journal', url()])).code).toBe(2);
    expect((await runCli(['shards', '--run', 'nosuch', '--journal', url(), '--retry', 'all'])).code).toBe(2);
    expect((await runCli(['shards', '--run', 'nosuch', '--journal', url()])).code).toBe(2); // a listing: not recorded
    const found = (await rows()).map((r) => `${r.action}:${r.phase}:${r.exit_code ?? '-'}`);
    expect(found).toEqual([
      'migrate:started:-',
      'migrate:ok:0',
      'result:started:-',
      'result:failed:2',
      'shards-retry:started:-',
      'shards-retry:failed:2',
    ]);
    const failed = (await rows()).find((r) => r.action === 'result' && r.phase === 'failed')!;
    expect(failed.error).toMatch(/nosuch/);
    expect(failed.db_user).toBe(new URL(testServer().url).username || 'postgres');
    expect(failed.args).toContain('--run');
  });

  it('convert, submit and a node with a NATS password and a token file: recorded, secrets not', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${tokenSecret}\n`);
    expect((await runCli(['convert', '--journal', url('never-written')])).code).not.toBe(0);
    const submit = await runCli([
      'submit',
      sample,
      '--nats',
      deadNats,
      '--journal',
      url(),
      '--run',
      'r1',
      '-o',
      join(dir, 'out.csv'),
    ]);
    expect(submit.code).toBe(1);
    // A node NATS refuses closes what it opened and ends with its error (it used to hang on its connections).
    const node = spawn(process.execPath, [
      binPath,
      ...['node', '--nats', deadNats, '--journal', url(), '--node-id', 'n-audit'],
      ...['--http', '0', '--http-token-file', tokenFile],
    ]);
    const exited = new Promise<number | null>((resolve) => node.on('exit', resolve));
    const timer = setTimeout(() => node.kill('SIGKILL'), 60_000);
    expect(await exited).toBe(1);
    clearTimeout(timer);
    const all = await rows();
    const summary = all.map((r) => `${r.action}:${r.phase}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        ...['convert:started', 'convert:failed', 'submit:started', 'submit:failed'],
        ...['node-join:ok', 'node-leave:ok'],
      ]),
    );
    const join_ = all.find((r) => r.action === 'node-join')!;
    expect(join_.node).toBe('n-audit');
    expect(join_.args).toContain(tokenFile); // the path, never the content
    expect(all.find((r) => r.action === 'submit' && r.phase === 'failed')!.error).toMatch(
      /nats nats:\/\/op:\*\*\*@127\.0\.0\.1:1: cannot connect/,
    );
    const text = await everything();
    for (const secret of [natsSecret, tokenSecret, pgPassword]) expect(text).not.toContain(secret);
    expect(text).toContain('nats://op:***@127.0.0.1:1');
  });

  it('payments audit prints the log: a table, --json, --action; the URL password not shown', async () => {
    const table = await runCli(['audit', '--journal', url()]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^at\s+action\s+phase\s+os_user\s+db_user/);
    expect(table.stdout).toMatch(/\sresult\s+failed\s/);
    for (const secret of [natsSecret, tokenSecret, pgPassword]) expect(table.stdout).not.toContain(secret);
    const json = await runCli(['audit', '--journal', url(), '--json', '--action', 'node-join']);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ action: 'node-join', phase: 'ok', node: 'n-audit' });
    expect(Number.isNaN(Date.parse(records[0].at))).toBe(false);
  });

  it('refuses a database without an audit log (exit 2, one line)', async () => {
    const empty = await freshDatabase('audit_none');
    expectOneLine(
      await runCli(['audit', '--journal', urlFor(empty)]),
      2,
      /journal postgres:\/\/.*: no audit log there \(schema payments_audit is missing\)/,
    );
  });
});
