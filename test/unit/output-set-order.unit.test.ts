/**
 * An OutputSet renames its files back to back and flushes their directories only after the last
 * rename: the instant in which a killed process leaves one output new and another old is one system
 * call, not a directory fsync (which can take milliseconds on a busy disk).
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const calls: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => {
      calls.push(`rename ${to}`);
      return real.rename(from, to);
    },
    open: async (path: string, ...rest: Parameters<typeof real.open> extends [unknown, ...infer R] ? R : never) => {
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) calls.push(`flush ${path}`);
      return real.open(path, ...rest);
    },
  };
});

const { OutputSet } = await import('../../src/io/output-file.js');

describe('an output set', () => {
  it('renames every file before it flushes any directory, each directory once', async () => {
    const a = mkdtempSync(join(tmpdir(), 'payments-order-a-'));
    const b = mkdtempSync(join(tmpdir(), 'payments-order-b-'));
    const set = new OutputSet();
    const accounts = await set.open(join(a, 'accounts.csv'), '-o');
    const rejects = await set.open(join(b, 'rejects.csv'), '--rejects');
    const report = await set.open(join(a, 'report.json'), '--report');
    await accounts.write('accounts\n');
    await rejects.write('rejects\n');
    await report.write('{}\n');
    calls.length = 0;
    await set.commit();
    expect(calls).toEqual([
      `rename ${join(a, 'accounts.csv')}`,
      `rename ${join(b, 'rejects.csv')}`,
      `rename ${join(a, 'report.json')}`,
      `flush ${a}`,
      `flush ${b}`,
    ]);
    expect(readFileSync(join(b, 'rejects.csv'), 'utf8')).toBe('rejects\n');
  });
});
