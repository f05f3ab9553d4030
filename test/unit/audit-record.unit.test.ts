/** The audit log's redaction, its record shape, and the JSON-lines file (append, torn tail, foreign files). */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAuditLog } from '../../src/audit/file-log.js';
import { audited } from '../../src/audit/recorder.js';
import { nodeEventRecord, outcomeRecord, startedRecord } from '../../src/audit/record.js';
import { redactArgs, redactText } from '../../src/audit/redact.js';
import { runFailure, usageError } from '../../src/errors.js';

describe('redaction', () => {
  it('removes the password of every URL, in any argument form', () => {
    const args = [
      'submit',
      'in.csv',
      '--journal',
      'postgres://node:pg-secret-1@db:5432/pay?journal=x',
      '--nats=nats://u:nats-secret-2@h1:4222,nats://u:nats-secret-3@h2:4222',
      '--journal=postgresql://h/db?password=pg-secret-4&journal=y',
    ];
    const out = redactArgs(args).join(' ');
    for (const secret of ['pg-secret-1', 'nats-secret-2', 'nats-secret-3', 'pg-secret-4'])
      expect(out).not.toContain(secret);
    expect(out).toContain('postgres://node:***@db:5432/pay?journal=x');
    expect(out).toContain('nats://u:***@h1:4222');
    expect(out).toContain('nats://u:***@h2:4222');
    expect(out).toContain('in.csv');
  });

  it('hides the value of an option named as a secret, keeps file paths', () => {
    expect(
      redactArgs(['--password', 'p1', '--api-token=t1', '--http-token-file', '/etc/tok', '--nats-creds', '/c']),
    ).toEqual(['--password', '***', '--api-token=***', '--http-token-file', '/etc/tok', '--nats-creds', '/c']);
  });

  it('redacts URLs inside a message', () => {
    expect(redactText('journal postgres://a:zz-top@h/db: refused')).toBe('journal postgres://a:***@h/db: refused');
  });
});

describe('records', () => {
  it('started: who, what, when, no outcome', () => {
    const r = startedRecord('submit', ['submit', '--journal', 'postgres://u:pw-x@h/db']);
    expect(r).toMatchObject({ phase: 'started', action: 'submit', osUser: userInfo().username });
    expect(r.args.join(' ')).not.toContain('pw-x');
    expect(r.actionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(r.at))).toBe(false);
    expect(r.exitCode).toBeUndefined();
  });

  it('outcome: ok is exit 0; a failure keeps its exit code and one redacted line', () => {
    const started = startedRecord('result', []);
    expect(outcomeRecord(started)).toMatchObject({ actionId: started.actionId, phase: 'ok', exitCode: 0 });
    const failed = outcomeRecord(started, usageError('journal postgres://u:pw-y@h/db: no\nsuch run'));
    expect(failed).toMatchObject({ actionId: started.actionId, phase: 'failed', exitCode: 2 });
    expect(failed.error).toBe('journal postgres://u:***@h/db: no such run');
    expect(outcomeRecord(started, runFailure('lost')).exitCode).toBe(1);
    expect(outcomeRecord(started, new Error('plain')).exitCode).toBe(1);
  });

  it('node events are one record with the node id', () => {
    expect(nodeEventRecord('node-join', 'n1', [])).toMatchObject({ phase: 'ok', node: 'n1', action: 'node-join' });
  });
});

describe('the JSON-lines audit log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-unit-'));

  it('audited writes started then the outcome, also when the action fails', async () => {
    const path = join(dir, 'a.jsonl');
    const log = new FileAuditLog(path);
    expect(await audited(log, 'run', ['x.csv'], async () => 7)).toBe(7);
    await expect(
      audited(log, 'convert', ['--journal', 'postgres://u:pw-z@h/db'], async () => {
        throw usageError('bad');
      }),
    ).rejects.toThrow('bad');
    const records = await log.read({});
    expect(records.map((r) => `${r.action}:${r.phase}:${r.exitCode ?? '-'}`)).toEqual([
      'run:started:-',
      'run:ok:0',
      'convert:started:-',
      'convert:failed:2',
    ]);
    expect(readFileSync(path, 'utf8')).not.toContain('pw-z');
    expect(await log.read({ action: 'convert' })).toHaveLength(2);
    expect(await log.read({ since: new Date(Date.now() + 60_000) })).toEqual([]);
  });

  it('the action does not run when its started record cannot be written', async () => {
    let ran = false;
    const log = new FileAuditLog(join(dir, 'missing-dir', 'a.jsonl'));
    await expect(audited(log, 'run', [], async () => void (ran = true))).rejects.toThrow(
      /cannot open it for appending/,
    );
    expect(ran).toBe(false);
  });

  it('skips a torn last line; refuses a foreign file or a damaged line (exit 2)', async () => {
    const path = join(dir, 'torn.jsonl');
    const log = new FileAuditLog(path);
    await log.append(startedRecord('run', []));
    appendFileSync(path, '{"actionId":"x","pha');
    expect(await log.read({})).toHaveLength(1);
    writeFileSync(join(dir, 'foreign.jsonl'), 'client,available\n1,2\n');
    await expect(new FileAuditLog(join(dir, 'foreign.jsonl')).read({})).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/line 1 is not a payments audit record/),
    });
    await expect(new FileAuditLog(join(dir, 'none.jsonl')).read({})).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/no such file/),
    });
  });
});
