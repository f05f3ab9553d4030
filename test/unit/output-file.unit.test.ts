/** OutputFile and checkOutputPaths in-process: complete-or-absent files and clashes between paths. */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCode, runFailure, RunError } from '../../src/errors.js';
import { OutputFile, OutputSet } from '../../src/io/output-file.js';
import { checkOutputs } from '../../src/io/output-paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-output-unit-'));

describe('an output file', () => {
  it('appears only on commit, with nothing else left in its directory', async () => {
    const dir = tmp();
    const file = await OutputFile.open(join(dir, 'out.csv'), { option: '--rejects' });
    await file.write('a\n');
    await file.write(Buffer.from('b\n'));
    expect(readdirSync(dir)).toHaveLength(1); // the temporary file only
    expect(readdirSync(dir)[0]).toMatch(/^\.payments-\d+-[0-9a-f]{16}\.tmp$/);
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
      checkOutputs({
        input: '-',
        outputs: [
          { option: '--rejects', path: join(dir, 'x.csv') },
          { option: '--report', path: `${dir}/./x.csv` },
        ],
      }),
      /--report .*: is the same file as --rejects/,
    );
  });
  it('a new file reached through a linked directory clashes with its real path', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    await refused(
      checkOutputs({
        input: '-',
        outputs: [
          { option: '--rejects', path: join(dir, 'real', 'x.csv') },
          { option: '--metrics', path: join(dir, 'alias', 'x.csv') },
        ],
      }),
      /--metrics .*: is the same file as --rejects/,
    );
  });
  it('distinct paths pass, a character device may take several, and devices are marked', async () => {
    const dir = tmp();
    const checked = await checkOutputs({
      input: '-',
      outputs: [
        { option: '--rejects', path: join(dir, 'r.csv') },
        { option: '--report', path: '/dev/null' },
        { option: '--metrics', path: '/dev/null' },
      ],
    });
    expect(checked.map((c) => c.special)).toEqual([false, true, true]);
  });
});

describe('write errors keep their words (review)', () => {
  it('errorCode of an error whose code is undefined is undefined, not "undefined"', () => {
    expect(errorCode(runFailure('x'))).toBeUndefined();
    expect(errorCode({ code: null })).toBeUndefined();
    expect(errorCode(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toBe('ENOSPC');
  });
  it('a full device on commit is one line saying so, never "cannot write (undefined)"', async () => {
    const file = await OutputFile.open('/dev/full', { option: '--report' });
    await file.write('x\n');
    const error = await file.commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).message).toBe('--report /dev/full: no space left on device (ENOSPC)');
  });
  it('a set finishes every file before any is renamed, and a failure drops them all', async () => {
    const dir = tmp();
    const set = new OutputSet();
    await (await set.open(join(dir, 'a.csv'), '--rejects')).write('a\n');
    await (await set.open('/dev/full', '--report')).write('r\n');
    await expect(set.finish()).rejects.toThrow(/--report \/dev\/full: no space left/);
    expect(readdirSync(dir)).toEqual([]);
  });
  it('finish leaves the file complete but unrenamed until publish', async () => {
    const dir = tmp();
    const set = new OutputSet();
    await (await set.open(join(dir, 'a.csv'), '--rejects')).write('a\n');
    await set.finish();
    expect(readdirSync(dir)).toHaveLength(1);
    expect(readdirSync(dir)[0]).toMatch(/\.tmp$/);
    await set.publish();
    expect(readdirSync(dir)).toEqual(['a.csv']);
    expect(readFileSync(join(dir, 'a.csv'), 'utf8')).toBe('a\n');
  });
});
