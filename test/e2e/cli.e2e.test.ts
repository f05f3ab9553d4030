import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const fixtureDirs = ['test/fixtures/spec-examples', 'test/fixtures/cases'].map((d) => join(repoRoot, d));
const cases = fixtureDirs.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.expected.csv'))
    .map((f) => ({ dir, name: f.replace(/\.expected\.csv$/, '') })),
);
const tmp = () => mkdtempSync(join(tmpdir(), 'payments-e2e-'));

describe('fixtures: stdout and rejects byte for byte', () => {
  for (const { dir, name } of cases) {
    for (const workers of [1, 3]) {
      it(`${name} with ${workers} worker(s)`, async () => {
        const rejects = join(tmp(), 'rejects.csv');
        const result = await runCli([
          join(dir, `${name}.csv`),
          '--workers',
          String(workers),
          '--rejects',
          rejects,
          '--quiet',
        ]);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout).toBe(readFileSync(join(dir, `${name}.expected.csv`), 'utf8'));
        expect(readFileSync(rejects, 'utf8')).toBe(readFileSync(join(dir, `${name}.rejects.csv`), 'utf8'));
      });
    }
  }

  it('data/sample.csv gives the output shown in the README', async () => {
    const rejects = join(tmp(), 'rejects.csv');
    const result = await runCli(['data/sample.csv', '--rejects', rejects]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8'));
    expect(readFileSync(rejects, 'utf8')).toBe(readFileSync(join(repoRoot, 'data/sample.rejects.csv'), 'utf8'));
  });

  it('reads standard input given as -', async () => {
    const dir = fixtureDirs[0]!;
    const result = await runCli(['-'], { stdin: readFileSync(join(dir, 'locked_account_ops.csv'), 'utf8') });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(dir, 'locked_account_ops.expected.csv'), 'utf8'));
  });
});

describe('bad invocations and bad files', () => {
  const expectUsageError = async (args: string[], pattern: RegExp, stdin?: string) => {
    const result = await runCli(args, { stdin });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toMatch(pattern);
    expect(result.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack trace
  };

  it('a missing file: exit 2, named', () =>
    expectUsageError(['no/such/file.csv'], /no\/such\/file\.csv: no such file/));
  it('a directory: exit 2', () => expectUsageError(['test'], /test: is a directory/));
  it('standard input redirected from a directory: exit 2, not an empty account list', async () => {
    const dir = tmp();
    const fd = openSync(dir, 'r');
    try {
      const child = spawnSync(process.execPath, [binPath, '-q'], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
      expect(child.status).toBe(2);
      expect(child.stdout).toBe('');
      expect(errorLine(child.stderr)).toMatch(/stdin: is a directory/);
    } finally {
      closeSync(fd);
    }
  });
  it('standard input redirected from a file is read as the file', async () => {
    const fd = openSync(join(repoRoot, 'data/sample.csv'), 'r');
    try {
      const child = spawnSync(process.execPath, [binPath, '-q'], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      expect(child.stdout).toBe(readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8'));
    } finally {
      closeSync(fd);
    }
  });
  // Linux: /proc/self/mem opens, and its first read fails (offset 0 is never mapped).
  it.runIf(process.platform === 'linux')('a file whose first read fails: exit 2, named, with the cause', () =>
    expectUsageError(['/proc/self/mem'], /: \/proc\/self\/mem: cannot read \(EIO/),
  );
  it('a header without client: exit 2 with file and line', () =>
    expectUsageError(['-'], /stdin:2: the header has no "client" column/, '\nTYPE,1,2,3\n'));
  it('a header without tx: exit 2', () =>
    expectUsageError(['-'], /stdin:1: the header has no "tx" column/, 'type,client,amount\n'));
  it('no input and an empty stdin: the empty input is read (exit 0)', async () => {
    const result = await runCli([], { stdin: '' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('client,available,held,total,locked\n');
  });
  it('--workers out of range: exit 2', async () => {
    await expectUsageError(['-', '--workers', '0'], /--workers must be a whole number from 1 to 64/);
    await expectUsageError(['-', '--workers', '65'], /--workers must be a whole number from 1 to 64/);
    await expectUsageError(['-', '--workers', '1.5'], /--workers/);
  });
  it('an unknown option: exit 2', () => expectUsageError(['-', '--frobnicate'], /unknown option --frobnicate/));
  it('an unwritable rejects file: exit 2', () =>
    expectUsageError(
      ['-', '--rejects', '/no/such/dir/r.csv'],
      /--rejects \/no\/such\/dir\/r\.csv: the directory \/no\/such\/dir does not exist/,
    ));

  it('a failure part-way: exit 1, nothing on stdout, no partial rejects file', async () => {
    const dir = tmp();
    const input = join(dir, 'runaway.csv');
    // An unterminated quote swallows the rest of the file into one "row" until the row limit stops it.
    writeFileSync(input, `deposit,1,1,1\ndeposit,1,2,"${'x'.repeat(1_200_000)}\n`);
    const rejects = join(dir, 'rejects.csv');
    const result = await runCli([input, '--rejects', rejects]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toMatch(/runaway\.csv:2: a row longer than/);
    expect(readdirSync(dir)).toEqual(['runaway.csv']);
    expect(existsSync(rejects)).toBe(false);
  });

  it('--help and --version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--workers/);
    const packageVersion = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    for (const flag of ['--version', '-V']) {
      const version = await runCli([flag]);
      expect({ flag, code: version.code, stdout: version.stdout }).toEqual({
        flag,
        code: 0,
        stdout: `${packageVersion}\n`,
      });
    }
  });
});

describe('the default worker count', () => {
  it('is the cores less one (at least 1) when neither -w nor PAYMENTS_WORKERS says', async () => {
    const report = join(tmp(), 'report.json');
    const result = await runCli([join(repoRoot, 'data/sample.csv'), '--report', report, '-q'], {
      env: { PAYMENTS_WORKERS: undefined },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(readFileSync(report, 'utf8')).workers).toBe(Math.max(1, availableParallelism() - 1));
  });
});
