/**
 * The SQLite journal under damage and races, longer loops: a byte flipped at eight places of a
 * partition never gives a wrong balance, and of two runs started together on a new journal
 * directory exactly one applies the input (three pairs at -w 1 and at -w 4). The single cases
 * (edited snapshots, bad manifests, a second run, a full disk) are in
 * test/hostile/journal.hostile.test.ts.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLine, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-journal-faults-'));
const big = join(dir, 'big.csv');
const reference = { big: '' };

beforeAll(async () => {
  const generated = await runCli(['generate', '-n', '300000', '-c', '2000', '--seed', '5', big]);
  expect(generated.code, generated.stderr).toBe(0);
  reference.big = (await runCli([big, '--quiet'])).stdout;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the journal cannot lie', () => {
  it('one flipped byte anywhere in a partition: exit 2, or the exact output (never a wrong balance)', async () => {
    const journal = join(dir, 'flip-source');
    expect((await runCli([big, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    const file = join(journal, 'partition-1.sqlite');
    const size = statSync(file).size;
    let caught = 0;
    for (let k = 1; k <= 8; k++) {
      const copy = join(dir, `flip-${k}`);
      cpSync(journal, copy, { recursive: true });
      const path = join(copy, 'partition-1.sqlite');
      const bytes = readFileSync(path);
      const at = Math.floor((size * k) / 9);
      bytes[at] = bytes[at]! ^ 0x10;
      writeFileSync(path, bytes);
      const result = await runCli([big, '--journal', copy, '--quiet']);
      if (result.code === 0) {
        expect(result.stdout).toBe(reference.big);
      } else {
        caught++;
        expectOneLine(result, 2, /journal partition 1/);
      }
      rmSync(copy, { recursive: true, force: true });
    }
    expect(caught, 'flips in the data pages must be detected').toBeGreaterThan(0);
  });
});

describe('one writer per journal', () => {
  for (const workers of [1, 4]) {
    it(`two runs started together on a new journal directory at -w ${workers}: one runs, the other is refused`, async () => {
      for (let pair = 0; pair < 3; pair++) {
        const journal = join(dir, `pair-w${workers}-${pair}`);
        const args = [big, '--journal', journal, '--workers', String(workers)];
        const both = await Promise.all([runCli(args), runCli(args)]);
        const ran = both.filter((r) => r.code === 0);
        expect(ran.length, both.map((r) => r.stderr).join('\n')).toBeGreaterThanOrEqual(1);
        for (const r of ran) expect(r.stdout).toBe(reference.big);
        const refused = both.filter((r) => r.code !== 0);
        if (refused.length === 1) expectOneLine(refused[0]!, 2, /journal .* is in use by (pid \d+|another run)$/);
        // Both ran: only one after the other, the second finding the first's run finished.
        else expect(both.some((r) => /nothing will be applied again/.test(r.stderr))).toBe(true);
      }
    });
  }
});
