/**
 * The one rule for output paths: an output may not be the input, another output, standard output,
 * or inside a journal; every output of every command, checked before anything is read (exit 2).
 * Each test failed before the rule was applied this way.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
const sampleRejects = readFileSync(join(repoRoot, 'data/sample.rejects.csv'), 'utf8');

/** A directory holding a copy of the sample input as in.csv. */
function withInput(): string {
  const dir = mkdtempSync(join(tmpdir(), 'payments-rule-'));
  writeFileSync(join(dir, 'in.csv'), sample);
  return dir;
}

/** A directory with in.csv and a finished journal J written from it; returns the accounts it printed. */
async function withJournal(): Promise<{ dir: string; accounts: string }> {
  const dir = withInput();
  const first = await runCli(['in.csv', '--journal', 'J', '-w', '2', '-q'], { cwd: dir });
  expect(first.code).toBe(0);
  return { dir, accounts: first.stdout };
}

/** Every file of a directory, byte for byte (subdirectories left out). */
const bytesOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((name) => statSync(join(dir, name)).isFile())
      .map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  );

async function expectRefused(args: string[], cwd: string, pattern: RegExp): Promise<void> {
  const result = await runCli([...args, '-q'], { cwd });
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(errorLine(result.stderr)).toMatch(pattern);
}

const sh = (cwd: string, script: string) => spawnSync('bash', ['-c', script], { cwd, encoding: 'utf8' });

describe('an output inside the journal is refused before anything is read (exit 2)', () => {
  it('every output option onto the journal files: refused, the journal untouched and still usable', async () => {
    const { dir, accounts } = await withJournal();
    const before = bytesOf(join(dir, 'J'));
    expect(Object.keys(before)).toEqual(
      expect.arrayContaining(['manifest.json', 'lock.sqlite', 'partition-0.sqlite', 'partition-1.sqlite']),
    );
    // Every option and every journal file, paired (each run spawns the CLI).
    const pairs = [
      ['-o', 'partition-0.sqlite'],
      ['--rejects', 'manifest.json'],
      ['--report', 'lock.sqlite'],
      ['--metrics', 'partition-1.sqlite'],
    ];
    for (const [option, file] of pairs) {
      await expectRefused(['in.csv', '--journal', 'J', option!, `J/${file}`], dir, /: is inside the journal J;/);
    }
    expect(bytesOf(join(dir, 'J'))).toEqual(before);
    const again = await runCli(['in.csv', '--journal', 'J', '-w', '2', '-q'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(accounts);
  });
  it('a new file inside it, and through a symbolic link, `..` after a link, a hard link', async () => {
    const { dir } = await withJournal();
    symlinkSync('J', join(dir, 'L'));
    mkdirSync(join(dir, 'J', 'sub'));
    symlinkSync('J/sub', join(dir, 'S'));
    linkSync(join(dir, 'J', 'partition-0.sqlite'), join(dir, 'hard.sqlite'));
    const before = bytesOf(join(dir, 'J'));
    await expectRefused(
      ['in.csv', '--journal', 'J', '--rejects', 'J/new.csv'],
      dir,
      /--rejects J\/new\.csv: is inside/,
    );
    await expectRefused(['in.csv', '--journal', 'J', '--report', 'L/manifest.json'], dir, /is inside the journal J/);
    // The kernel follows S before `..`: S/../manifest.json is J/manifest.json, not ./manifest.json.
    await expectRefused(['in.csv', '--journal', 'J', '--rejects', 'S/../manifest.json'], dir, /is inside the journal/);
    await expectRefused(
      ['in.csv', '--journal', 'J', '--metrics', 'hard.sqlite'],
      dir,
      /--metrics hard\.sqlite: is the same file as J\/partition-0\.sqlite, inside the journal J/,
    );
    expect(bytesOf(join(dir, 'J'))).toEqual(before);
  });
  it('a journal that does not exist yet, named directly or through a dangling link', async () => {
    const dir = withInput();
    symlinkSync('NEW', join(dir, 'K'));
    await expectRefused(['in.csv', '--journal', 'NEW', '--rejects', 'NEW/r.csv'], dir, /is inside the journal NEW/);
    await expectRefused(
      ['in.csv', '--journal', 'NEW', '-o', 'K/a.csv'],
      dir,
      /--output K\/a\.csv: is inside the journal/,
    );
    await expectRefused(['in.csv', '--journal', 'K', '-o', 'NEW/a.csv'], dir, /is inside the journal K/);
    expect(existsSync(join(dir, 'NEW'))).toBe(false);
  });
  it('a journal directory not named by --journal is a journal all the same (run, generate)', async () => {
    const { dir } = await withJournal();
    const before = bytesOf(join(dir, 'J'));
    await expectRefused(
      ['in.csv', '--rejects', 'J/manifest.json'],
      dir,
      /--rejects J\/manifest\.json: is inside the journal J/,
    );
    await expectRefused(
      ['generate', '-n', '10', '-c', '2', 'J/partition-0.sqlite'],
      dir,
      /OUT .*: is inside the journal J/,
    );
    expect(bytesOf(join(dir, 'J'))).toEqual(before);
  });
  it('standard output redirected into the journal: the run, replay and inspect refuse', async () => {
    const { dir } = await withJournal();
    const before = bytesOf(join(dir, 'J'));
    const run = sh(dir, `node '${binPath}' in.csv --journal J -q >> J/manifest.json`);
    expect(run.status).toBe(2);
    expect(errorLine(run.stderr)).toBe('payments: standard output is inside the journal J; redirect it outside');
    for (const command of ['replay --journal J', 'inspect --journal J']) {
      const got = sh(dir, `node '${binPath}' ${command} -q >> J/partition-0.sqlite`);
      expect(got.status, command).toBe(2);
      expect(errorLine(got.stderr)).toMatch(/standard output is inside the journal J/);
    }
    expect(bytesOf(join(dir, 'J'))).toEqual(before);
    const fresh = sh(dir, `node '${binPath}' replay --journal J -q > J/new.csv`);
    expect(fresh.status).toBe(2);
  });
});

describe('an output that is standard output or standard input, whatever they are', () => {
  for (const [option, path] of [
    ['--rejects', '/dev/stdout'],
    ['--rejects', '/dev/fd/1'],
    ['--rejects', '/proc/self/fd/1'],
    ['--report', '/dev/stdout'],
  ] as const) {
    it(`${option} ${path} with standard output a pipe (| cat) is exit 2, nothing mixed in`, () => {
      const dir = withInput();
      const got = sh(dir, `set -o pipefail; node '${binPath}' in.csv ${option} ${path} -q | cat`);
      expect(got.status).toBe(2);
      expect(got.stdout).toBe('');
      expect(errorLine(got.stderr)).toBe(
        `payments: ${option} ${path}: is the same file as standard output; give each output its own file`,
      );
    });
  }
  it('--rejects /dev/stdout with standard output a socket (a spawned child with stdio pipe) is exit 2', async () => {
    const dir = withInput();
    await expectRefused(
      ['in.csv', '--rejects', '/dev/stdout'],
      dir,
      /--rejects \/dev\/stdout: is the same file as standard output/,
    );
  });
  it('the run writing no standard output (-o) may send an output there', () => {
    const dir = withInput();
    const got = sh(dir, `set -o pipefail; node '${binPath}' in.csv -o a.csv --rejects /dev/stdout -q | cat`);
    expect(got.status).toBe(0);
    expect(got.stdout).toBe(sampleRejects);
  });
  it('standard output a character device (/dev/null, a terminal) may take an output too', () => {
    const dir = withInput();
    expect(sh(dir, `node '${binPath}' in.csv --rejects /dev/stdout -q > /dev/null`).status).toBe(0);
    const tty = sh(dir, `script -qec "node '${binPath}' in.csv --rejects /dev/stdout -q" /dev/null`);
    expect(tty.status).toBe(0);
    expect(tty.stdout.replaceAll('\r\n', '\n')).toContain(sampleRejects);
  });
  it('--rejects /dev/stdin with standard input a pipe is exit 2 (it used to wait for ever on its own input)', () => {
    const dir = withInput();
    const got = sh(dir, `cat in.csv | timeout -s KILL 30 node '${binPath}' - --rejects /dev/stdin -q`);
    expect(got.status).toBe(2);
    expect(errorLine(got.stderr)).toBe(
      'payments: --rejects /dev/stdin: is the same file as standard input; give each output its own file',
    );
  });
  it('--rejects /dev/stdin with standard input a pipe the run does not read is exit 2 too', () => {
    const dir = withInput();
    const got = sh(dir, `cat in.csv | node '${binPath}' in.csv --rejects /dev/stdin -q`);
    expect(got.status).toBe(2);
    expect(errorLine(got.stderr)).toMatch(/--rejects \/dev\/stdin: is the same file as standard input/);
  });
});

describe('long output names', () => {
  const named = (bytes: number) => `${'é'.repeat((bytes - 5) / 2)}x.csv`; // multi-byte: bytes, not characters
  it('any name the filesystem takes (up to 255 bytes) works for every output', async () => {
    const dir = withInput();
    const name = named(255);
    expect(Buffer.byteLength(name)).toBe(255);
    for (const option of ['-o', '--rejects', '--report', '--metrics']) {
      const got = await runCli(['in.csv', option, name, '-q'], { cwd: dir });
      expect(got.code, `${option}: ${got.stderr}`).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['in.csv', name].sort());
      if (option === '--rejects') expect(readFileSync(join(dir, name), 'utf8')).toBe(sampleRejects);
    }
    const gen = await runCli(['generate', '-n', '10', '-c', '2', '-q', named(253)], { cwd: dir });
    expect(gen.code).toBe(0);
    expect(statSync(join(dir, named(253))).size).toBeGreaterThan(0);
  });
  it('a name the filesystem refuses (256 bytes) is exit 2 before anything is read, for every output', async () => {
    const dir = withInput();
    const name = `${'r'.repeat(252)}.csv`;
    for (const option of ['--output', '--rejects', '--report', '--metrics']) {
      await expectRefused(
        ['in.csv', option, name],
        dir,
        new RegExp(`^payments: ${option} r+\\.csv: the name is too long`),
      );
    }
    await expectRefused(['generate', '-n', '10', '-c', '2', name], dir, /^payments: OUT r+\.csv: the name is too long/);
    expect(readdirSync(dir)).toEqual(['in.csv']);
  });
});

describe('paths follow links as the kernel does', () => {
  it('`..` after a link: the output is written where the kernel resolves it', async () => {
    const dir = withInput();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    symlinkSync('a/b', join(dir, 'L'));
    const got = await runCli(['in.csv', '--rejects', 'L/../r.csv', '-q'], { cwd: dir });
    expect(got.code).toBe(0);
    expect(readFileSync(join(dir, 'a', 'r.csv'), 'utf8')).toBe(sampleRejects);
    expect(existsSync(join(dir, 'r.csv'))).toBe(false);
  });
  it('`missing/..` is a directory that does not exist, as for the kernel', async () => {
    const dir = withInput();
    await expectRefused(['in.csv', '--rejects', 'missing/../r.csv'], dir, /the directory missing\/\.\. does not exist/);
    expect(readdirSync(dir)).toEqual(['in.csv']);
  });
});

describe('only descriptor paths are written in place', () => {
  it.skipIf(!existsSync('/dev/shm'))('a file under /dev/shm is replaced, not appended to', async () => {
    const dir = withInput();
    const shm = mkdtempSync('/dev/shm/payments-rule-');
    for (let run = 0; run < 2; run++) {
      const got = await runCli(['in.csv', '--rejects', join(shm, 'r.csv'), '-q'], { cwd: dir });
      expect(got.code).toBe(0);
    }
    expect(readFileSync(join(shm, 'r.csv'), 'utf8')).toBe(sampleRejects);
    rmSync(shm, { recursive: true });
  });
  it('/dev/stdout redirected to a file with -o is appended to, as the shell asked', () => {
    const dir = withInput();
    writeFileSync(join(dir, 'log.txt'), 'before\n');
    const got = sh(dir, `node '${binPath}' in.csv -o /dev/stdout -q >> log.txt`);
    expect(got.status).toBe(0);
    expect(readFileSync(join(dir, 'log.txt'), 'utf8')).toMatch(/^before\nclient,available,held,total,locked\n/);
  });
});
