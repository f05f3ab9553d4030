/**
 * Traces of a single run, as a real OTLP/HTTP receiver decodes them: the span tree (run → read,
 * each shard's recovery, batch apply → journal commit, finish → snapshot), one trace across the
 * main thread and the worker threads, attributes, log lines that name the span they are written
 * in; and the SDK not loaded at all when no OTEL_* variable asks for traces.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli } from '../helpers/cli.js';
import { spanTree, startReceiver, tracingEnv, type Receiver } from '../helpers/otlp-receiver.js';

const sample = join(repoRoot, 'data/sample.csv');
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'payments-tracing-'));
});
afterAll(async () => {
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The module URLs a CLI run loads (every thread), through a resolve hook. */
function importsOf(args: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const file = join(dir, `imports-${Math.random().toString(36).slice(2)}.txt`);
  const hook = join(repoRoot, 'test/helpers/record-imports.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, binPath, ...args], {
      cwd: repoRoot,
      env: { ...cleanEnv(), ...env, RECORD_IMPORTS_FILE: file },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`exit ${code}`));
      else resolve(readFileSync(file, 'utf8').trim().split('\n'));
    });
  });
}

/** This process's environment without any OTEL_* variable. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}

describe('traces of a single run', () => {
  it('one trace: run → read, each shard’s recover, apply → commit, finish → snapshot; logs name the spans', async () => {
    const journal = join(dir, 'j1');
    const env = { ...tracingEnv(receiver, 'payments-single'), PAYMENTS_LOG_LEVEL: 'debug' };
    const result = await runCli([sample, '--workers', '2', '--journal', journal], { env });
    expect(result.code, result.stderr).toBe(0);
    const spans = await receiver.waitFor((all) =>
      all.some((s) => s.name === 'payments.run' && s.service === 'payments-single'),
    );
    const mine = spans.filter((s) => s.service === 'payments-single');
    const tree = spanTree(mine);
    const run = mine.find((s) => s.name === 'payments.run')!;
    expect(run.parentSpanId, tree).toBe('');
    expect(run.attributes).toMatchObject({ 'payments.workers': 2, 'payments.journal': 'sqlite' });
    expect(new Set(mine.map((s) => s.traceId)), tree).toEqual(new Set([run.traceId]));
    const named = (name: string) => mine.filter((s) => s.name === name);
    const childOf = (parent: { spanId: string }) => (s: { parentSpanId: string }) => s.parentSpanId === parent.spanId;
    expect(named('payments.read').every(childOf(run)), tree).toBe(true);
    expect(named('payments.read')[0]!.attributes['payments.rows']).toBe(16);
    for (const name of ['payments.shard.recover', 'payments.shard.apply', 'payments.shard.finish']) {
      const list = named(name);
      expect(new Set(list.map((s) => s.attributes['payments.shard'])), `${name}\n${tree}`).toEqual(new Set([0, 1]));
      expect(list.every(childOf(run)), tree).toBe(true);
    }
    // Every routed row in exactly one batch (a malformed row is rejected before routing, so the
    // journal's records count them); each commit inside its apply, each final snapshot in its finish.
    const applies = named('payments.shard.apply');
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const complete = lines.find((l) => String(l.msg).startsWith('run complete'))!;
    const report = complete.report as { journalRecords: number };
    expect(applies.reduce((n, s) => n + Number(s.attributes['payments.rows']), 0)).toBe(report.journalRecords);
    for (const commit of named('payments.journal.commit'))
      expect(
        applies.some((a) => a.spanId === commit.parentSpanId),
        tree,
      ).toBe(true);
    expect(named('payments.journal.commit').length).toBe(applies.length);
    const finishes = named('payments.shard.finish');
    expect(
      named('payments.journal.snapshot').filter((s) => finishes.some((f) => f.spanId === s.parentSpanId)).length,
    ).toBe(2);
    // Log lines written inside a span carry its ids, in the main thread and in the workers.
    expect(complete).toMatchObject({ trace_id: run.traceId, span_id: run.spanId });
    const workerLines = lines.filter((l) => l.msg === 'shard finished');
    expect(workerLines.length).toBe(2);
    for (const l of workerLines) expect(finishes.map((f) => f.spanId)).toContain(l.span_id);
    expect(receiver.bad).toEqual([]);
  });

  it('OTEL_TRACES_SAMPLER=always_off: no span leaves, from the main thread or the workers', async () => {
    const off = { ...tracingEnv(receiver, 'payments-unsampled'), OTEL_TRACES_SAMPLER: 'always_off' };
    const quiet = await runCli([sample, '--journal', join(dir, 'j6')], { env: off });
    expect(quiet.code).toBe(0);
    // A sampled run after it, whose spans arrive: the unsampled one's would have come first.
    const on = { ...tracingEnv(receiver, 'payments-sampled'), OTEL_TRACES_SAMPLER: 'always_on' };
    expect((await runCli([sample, '--journal', join(dir, 'j7')], { env: on })).code).toBe(0);
    await receiver.waitFor((all) => all.some((s) => s.service === 'payments-sampled' && s.name === 'payments.run'));
    await receiver.waitFor((all) =>
      all.some((s) => s.service === 'payments-sampled' && s.name === 'payments.shard.finish'),
    );
    expect(receiver.spans.filter((s) => s.service === 'payments-unsampled')).toEqual([]);
  });

  it('a run without OTEL_* variables loads no OpenTelemetry module, in any thread, and logs no trace ids', async () => {
    const args = [sample, '--workers', '2', '--journal', join(dir, 'j2'), '-o', join(dir, 'out2.csv')];
    const without = await importsOf(args, {});
    expect(without.length).toBeGreaterThan(50);
    expect(without.filter((url) => url.includes('@opentelemetry') || url.includes('/ops/otel.js'))).toEqual([]);
    // The same check sees the SDK when it is asked for.
    const withTraces = await importsOf([sample, '-o', join(dir, 'out3.csv')], tracingEnv(receiver));
    expect(withTraces.some((url) => url.includes('@opentelemetry/sdk-trace-base'))).toBe(true);
    const plain = await runCli([sample, '--journal', join(dir, 'j4')], { env: cleanEnv() });
    expect(plain.code).toBe(0);
    expect(plain.stderr).not.toContain('trace_id');
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      'OTEL_EXPORTER_OTLP_PROTOCOL=grpc: not supported (http/protobuf or http/json)',
    ],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER=zipkin: not supported (otlp or none)'],
  ])('a setting it cannot honour, %o, is exit 2 with one line and no accounts', async (setting, message) => {
    const result = await runCli([sample], { env: { ...tracingEnv(receiver), ...setting } });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });

  it('OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turns traces off', async () => {
    for (const off of [{ OTEL_TRACES_EXPORTER: 'none' }, { OTEL_SDK_DISABLED: 'true' }]) {
      const imports = await importsOf([sample, '-o', join(dir, 'out5.csv')], { ...tracingEnv(receiver), ...off });
      expect(imports.filter((url) => url.includes('@opentelemetry'))).toEqual([]);
    }
  });
});
