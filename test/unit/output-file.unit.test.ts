/** OutputFile and checkOutputPaths in-process: complete-or-absent files and clashes between paths. */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunError } from '../../src/errors.js';
import { OutputFile, OutputSet } from '../../src/io/output-file.js';
import { checkOutputPaths } from '../../src/io/output-paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-output-unit-'));

describe('an output file', () => {
  it('appears only on commit, with nothing else left in its directory', async () => {
    const dir = tmp();
    const file = await OutputFile.open(join(dir, 'out.csv'), { option: '--rejects' });
    await file.write('a\n');
    await file.write(Buffer.from('b\n'));
    expect(readdirSync(dir)).toHaveLength(1); // the temporary file only
    expect(readdirSync(dir)[0]).toMatch(/^\.out\.csv\.payments-\d+-[0-9a-f]{16}\.tmp$/);
    await file.commit();
    expect(readdirSync(dir)).toEqual(['out.csv']);
    expect(readFileSync(join(dir, 'out.csv'), 'utf8')).toBe('a\nb\n');
  });
  it('leaves an existing target as it was when discarded', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'out.csv'), 'old\n');
    const set = new OutputSet();
    const file = await set.open(join(dir, 'out.csv'), '--report');
    await file.write('new\n');
    await set.discard();
    expect(readdirSync(dir)).toEqual(['out.csv']);
    expect(readFileSync(join(dir, 'out.csv'), 'utf8')).toBe('old\n');
  });
  it('writes a device in place', async () => {
    const file = await OutputFile.open('/dev/null', { option: '--rejects' });
    expect(file.inPlace).toBe(true);
    await file.write('x');
    await file.commit();
  });
});

describe('output paths', () => {
  const refused = async (promise: Promise<unknown>, pattern: RegExp) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).exitCode).toBe(2);
    expect((error as RunError).message).toMatch(pattern);
  };
  it('two spellings of one new file clash', async () => {
    const dir = tmp();
    await refused(
      checkOutputPaths('-', [
        { option: '--rejects', path: join(dir, 'x.csv') },
        { option: '--report', path: `${dir}/./x.csv` },
      ]),
      /--report .*: is the same file as --rejects/,
    );
  });
  it('a new file reached through a linked directory clashes with its real path', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    await refused(
      checkOutputPaths('-', [
        { option: '--rejects', path: join(dir, 'real', 'x.csv') },
        { option: '--metrics', path: join(dir, 'alias', 'x.csv') },
      ]),
      /--metrics .*: is the same file as --rejects/,
    );
  });
  it('distinct paths pass, a character device may take several, and devices are marked', async () => {
    const dir = tmp();
    const checked = await checkOutputPaths('-', [
      { option: '--rejects', path: join(dir, 'r.csv') },
      { option: '--report', path: '/dev/null' },
      { option: '--metrics', path: '/dev/null' },
    ]);
    expect(checked.map((c) => c.special)).toEqual([false, true, true]);
  });
});
