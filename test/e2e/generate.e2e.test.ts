/** `payments generate`: determinism, the format, streaming to stdout, argument errors. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLine, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-generate-'));

describe('payments generate', () => {
  it('writes N rows for at most C clients in the standard format', async () => {
    const out = join(dir, 'a.csv');
    const result = await runCli(['generate', '-n', '5000', '-c', '7', '--seed', '3', out]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/generated 5,000 rows/);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('type, client, tx, amount');
    expect(lines).toHaveLength(5001);
    const clients = new Set(lines.slice(1).map((l) => l.split(', ')[1]));
    expect(clients.size).toBeLessThanOrEqual(7);
    for (const type of ['deposit', 'withdrawal', 'dispute', 'resolve']) {
      expect(
        lines.some((l) => l.startsWith(`${type}, `)),
        type,
      ).toBe(true);
    }
    // Amounts with 0 to 4 decimal places.
    const places = new Set(
      lines.filter((l) => l.startsWith('deposit')).map((l) => (l.split(', ')[3]!.split('.')[1] ?? '').length),
    );
    expect([...places].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives the same bytes for the same seed, to a file or stdout, and others for another seed', async () => {
    const file = join(dir, 'b.csv');
    await runCli(['generate', '-n', '20000', '-c', '100', '--seed', '9', '--bad-rate', '0.1', file]);
    const stdout = await runCli(['generate', '-n', '20000', '-c', '100', '--seed', '9', '--bad-rate', '0.1', '-']);
    expect(stdout.code).toBe(0);
    expect(stdout.stdout).toBe(readFileSync(file, 'utf8'));
    const other = await runCli(['generate', '-n', '20000', '-c', '100', '--seed', '10', '--bad-rate', '0.1', '-']);
    expect(other.stdout).not.toBe(stdout.stdout);
  });

  it('lets a workload be reproduced: --disputes raises the share of disputes', async () => {
    const count = async (args: string[]) => {
      const result = await runCli(['generate', '-n', '20000', '-c', '50', ...args, '-']);
      return result.stdout.split('\n').filter((l) => l.startsWith('dispute,')).length;
    };
    expect(await count(['--disputes', '0.2'])).toBeGreaterThan(2 * (await count([])));
  });

  it.each([
    [['-n', '-5', '-c', '5'], /-n -5: --rows must be a whole number from 0 to 4000000000/],
    [['-n', '10', '-c', '0'], /-c (0|65537): --clients must be a whole number from 1 to 65536/],
    [['-n', '10', '-c', '65537'], /-c (0|65537): --clients must be a whole number from 1 to 65536/],
    [['-n', '10', '-c', '5', '--bad-rate', '2'], /--bad-rate must be a number from 0 to 1/],
    [['-n', '10', '-c', '5', '--disputes', '-1'], /--disputes -1: --disputes must be a number from 0 to 1/],
    [['-n', '1.5', '-c', '5'], /-n 1.5: --rows must be a whole number from 0 to 4000000000/],
    [['-n', '4000000001', '-c', '5'], /-n 4000000001: --rows must be a whole number from 0 to 4000000000/],
    [['-n', '10', '-c', '2.5'], /-c 2.5: --clients must be a whole number from 1 to 65536/],
    [['-n', '10', '-c', '5', '--seed', '-1'], /--seed -1: --seed must be a whole number from 0 to 4294967295/],
    [['-n', '10', '-c', '5', '--seed', '4294967296'], /--seed 4294967296: --seed must be a whole number from 0/],
    [['-n', '10', '-c', '5', '--seed', '1.5'], /--seed 1.5: --seed must be a whole number from 0/],
    [['-n', '10', '-c', '5', '--deposits', '0'], /--deposits 0: --deposits must be above 0/],
    ...[
      'deposits',
      'withdrawals',
      'disputes',
      'resolves',
      'chargebacks',
      'stray-refs',
      'overdrafts',
      'bad-rate',
    ].flatMap((option) =>
      ['1.5', '-0.1', 'x'].map((value): [string[], RegExp] => [
        ['-n', '10', '-c', '5', `--${option}`, value],
        new RegExp(`--${option} ${value.replace('.', '\\.')}: --${option} must be a number from 0 to 1; for example`),
      ]),
    ),
  ])('rejects %j with exit 2 and one line naming the option', async (args, message) => {
    // OUT in a missing directory: a value let through would fail there (and write nothing), not run on.
    const result = await runCli(['generate', ...args, join(dir, 'missing', 'x.csv')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(errorLine(result.stderr)).toMatch(message);
  });

  it('takes the bounds themselves', async () => {
    const args = ['-n', '0', '-c', '65536', '--seed', '4294967295', '--disputes', '1', '--bad-rate', '0', '-'];
    const result = await runCli(['generate', ...args]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('type, client, tx, amount\n');
  });

  it('rejects an unwritable OUT with exit 2', async () => {
    const result = await runCli(['generate', '-n', '10', '-c', '5', '/no/such/dir/out.csv']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/OUT \/no\/such\/dir\/out\.csv: the directory \/no\/such\/dir does not exist/);
  });
});
