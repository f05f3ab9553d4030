/** Outputs never damage anything (the contract's "Outputs"). */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputFile } from '../../src/io/output-file.js';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-outputs-'));
const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
const isRoot = process.getuid?.() === 0;

/** A directory holding a copy of the sample input. */
function withInput(): { dir: string; input: string } {
  const dir = tmp();
  const input = join(dir, 'in.csv');
  writeFileSync(input, sample);
  return { dir, input };
}

async function expectRefused(args: string[], pattern: RegExp) {
  const result = await runCli([...args, '--quiet']);
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(errorLine(result.stderr)).toMatch(pattern);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
}

describe('an output path that would destroy the input is refused before reading (exit 2)', () => {
  for (const option of ['--rejects', '--report', '--metrics', '--output', '--audit-log']) {
    it(`${option} naming the input`, async () => {
      const { input } = withInput();
      await expectRefused([input, option, input], new RegExp(`${option} .*in\\.csv: is the same file as the input`));
      expect(readFileSync(input, 'utf8')).toBe(sample);
    });
  }
  it('--audit-log naming another output, or standard output: refused before its first record', async () => {
    const { dir, input } = withInput();
    const accounts = join(dir, 'accounts.csv');
    await expectRefused(
      [input, '-o', accounts, '--audit-log', accounts],
      /--audit-log .*accounts\.csv: is the same file as --output/,
    );
    expect(existsSync(accounts)).toBe(false);
    const result = spawnSync(
      'bash',
      ['-c', `node '${binPath}' -q '${input}' --audit-log /dev/stdout > '${accounts}'`],
      {
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--audit-log \/dev\/stdout: is the same file as standard output/);
    expect(readFileSync(accounts, 'utf8')).toBe('');
  });
  it('--rejects through a symbolic link to the input', async () => {
    const { dir, input } = withInput();
    symlinkSync(input, join(dir, 'link.csv'));
    await expectRefused(
      [input, '--rejects', join(dir, 'link.csv')],
      /--rejects .*link\.csv: is the same file as the input/,
    );
    expect(readFileSync(input, 'utf8')).toBe(sample);
  });
  it('standard input redirected from the file named as an output', () => {
    const { input } = withInput();
    const result = spawnSync('bash', ['-c', `node '${binPath}' -q --rejects '${input}' < '${input}'`], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--rejects .*in\.csv: is the same file as standard input/);
    expect(readFileSync(input, 'utf8')).toBe(sample);
  });
  it('the same new file as two outputs', async () => {
    const { dir, input } = withInput();
    const both = join(dir, 'out.txt');
    await expectRefused(
      [input, '--rejects', both, '--report', both],
      /--report .*out\.txt: is the same file as --rejects/,
    );
    expect(existsSync(both)).toBe(false);
  });
  it('a directory, an empty path, a missing directory, and - ', async () => {
    const { dir, input } = withInput();
    await expectRefused([input, '--rejects', dir], /--rejects .*: is a directory/);
    await expectRefused([input, '--report', ''], /--report '': the path is empty/);
    await expectRefused(
      [input, '--metrics', join(dir, 'no/such/m.prom')],
      /--metrics .*: the directory .* does not exist/,
    );
    await expectRefused([input, '--rejects', '-'], /--rejects -: '-' is not a file here/);
  });
  it('--journal naming a file or empty', async () => {
    const { input } = withInput();
    await expectRefused([input, '--journal', input], /--journal .*in\.csv: is not a directory/);
    await expectRefused([input, '--journal', ''], /--journal '': the path is empty/);
    expect(readFileSync(input, 'utf8')).toBe(sample);
  });
  it.skipIf(isRoot)('an unwritable directory (skipped as root, who can write anywhere)', async () => {
    const { dir, input } = withInput();
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o500 });
    await expectRefused([input, '--report', join(locked, 'r.json')], /--report .*: the directory .* is not writable/);
  });
});

describe('devices and FIFOs are written in place, never replaced', () => {
  it.skipIf(!isRoot)('a character device (mknod, root only) stays a device', async () => {
    const { dir, input } = withInput();
    const device = join(dir, 'null');
    execFileSync('mknod', [device, 'c', '1', '3']);
    const result = await runCli([input, '--rejects', device, '--quiet']);
    expect(result.code).toBe(0);
    expect(statSync(device).isCharacterDevice()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['in.csv', 'null']);
  });
  it.skipIf(!isRoot)('a FIFO (root only) receives the rejects and stays a FIFO', async () => {
    const { dir, input } = withInput();
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = spawnSync(
      'bash',
      ['-c', `cat '${fifo}' > '${dir}/got.csv' & node '${binPath}' '${input}' --rejects '${fifo}' -q >/dev/null; wait`],
      {
        encoding: 'utf8',
      },
    );
    expect(reader.status).toBe(0);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readFileSync(join(dir, 'got.csv'), 'utf8')).toBe(
      readFileSync(join(repoRoot, 'data/sample.rejects.csv'), 'utf8'),
    );
  });
  it('a symbolic link to a file is followed: the link stays a link', async () => {
    const { dir, input } = withInput();
    writeFileSync(join(dir, 'real.csv'), 'old\n');
    symlinkSync(join(dir, 'real.csv'), join(dir, 'link.csv'));
    const result = await runCli([input, '--rejects', join(dir, 'link.csv'), '--quiet']);
    expect(result.code).toBe(0);
    expect(lstatSync(join(dir, 'link.csv')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real.csv'), 'utf8')).toMatch(/^line,type,client,tx,amount,reason\n/);
  });
});

describe('temporary files', () => {
  it('are created exclusively: a planted link at the temporary name is never written through', async () => {
    const dir = tmp();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const names = ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'];
    symlinkSync(victim, join(dir, `.payments-${process.pid}-${names[0]}.tmp`));
    const file = await OutputFile.open(join(dir, 'out.csv'), { option: '--rejects', randomPart: () => names.shift()! });
    await file.write('hello\n');
    await file.commit();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(join(dir, 'out.csv'), 'utf8')).toBe('hello\n');
  });
  it('left by a crashed run are removed by the next run on the same target, links included, never what they point at', async () => {
    const { dir, input } = withInput();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const deadPid = 2 ** 22 + 1; // above Linux's pid_max
    writeFileSync(join(dir, `.r.csv.payments-${deadPid}-0123456789abcdef.tmp`), 'partial');
    symlinkSync(victim, join(dir, `.r.csv.payments-${deadPid}-fedcba9876543210.tmp`));
    writeFileSync(join(dir, '.r.csv.unrelated'), 'keep');
    const result = await runCli([input, '--rejects', join(dir, 'r.csv'), '--quiet']);
    expect(result.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['.r.csv.unrelated', 'in.csv', 'r.csv', 'victim.txt']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });
});

describe('a failed run leaves no output file', () => {
  it('an input failing part-way: no accounts, rejects, report or metrics file, no temporary file', async () => {
    const dir = tmp();
    const input = join(dir, 'runaway.csv');
    writeFileSync(input, `deposit,1,1,1\ndeposit,1,2,"${'x'.repeat(1_200_000)}\n`);
    const outs = ['-o', 'a.csv', '--rejects', 'r.csv', '--report', 'r.json', '--metrics', 'm.prom'];
    const result = await runCli([input, ...outs.map((a) => (a.startsWith('-') ? a : join(dir, a)))]);
    expect(result.code).toBe(1);
    expect(readdirSync(dir)).toEqual(['runaway.csv']);
  });
});

describe('standard output that fails', () => {
  let big: string;
  beforeAll(async () => {
    big = join(tmp(), 'big.csv');
    // 5,000 accounts: far more than a pipe buffer, so `head -1` closes the pipe mid-write.
    const gen = await runCli(['generate', '--rows', '20000', '--clients', '5000', '--quiet', big]);
    expect(gen.code).toBe(0);
  });

  it('| head -1: exit 141, nothing on stderr, no rejects file', () => {
    const dir = tmp();
    const script = `node '${binPath}' '${big}' --rejects '${dir}/r.csv' | head -1; echo "exit=\${PIPESTATUS[0]}" >&2`;
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(result.stdout).toBe('client,available,held,total,locked\n');
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('{') || !l.includes('"level":"info"'))).toEqual(['exit=141']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('> /dev/full: one error line, exit 1, no rejects file', () => {
    const dir = tmp();
    const result = spawnSync('bash', ['-c', `node '${binPath}' '${big}' --rejects '${dir}/r.csv' > /dev/full`], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      msg: 'standard output: no space left on device (ENOSPC)',
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('payments generate', () => {
  it('refuses a directory as OUT, and leaves no temporary file', async () => {
    const dir = tmp();
    const result = await runCli(['generate', '-n', '10', '-c', '2', dir]);
    expect(result.code).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/OUT .*: is a directory/);
    const ok = await runCli(['generate', '-n', '10', '-c', '2', join(dir, 'g.csv')]);
    expect(ok.code).toBe(0);
    expect(readdirSync(dir)).toEqual(['g.csv']);
  });
});

/** The adversarial review of the output edge (after the CLI merge): each test failed before its fix. */
describe('review: a full filesystem (a 64 KiB tmpfs, root only)', () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'payments-tmpfs-'));
  let mountFailure: string | undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    mountFailure = String((error as { stderr?: Buffer }).stderr ?? error).trim() || 'mount failed';
    console.warn(`skipping the full-filesystem tests: cannot mount a tmpfs (${mountFailure})`);
  }
  let big: string;
  beforeAll(async () => {
    if (mountFailure !== undefined) return;
    big = join(tmp(), 'big.csv');
    // 5,000 accounts (~170 KB of accounts CSV) and many rejects: far more than the 64 KiB tmpfs holds.
    const gen = await runCli(['generate', '-n', '20000', '-c', '5000', '--bad-rate', '0.5', '-q', big]);
    expect(gen.code).toBe(0);
  });
  afterAll(() => {
    if (mountFailure !== undefined) return;
    execFileSync('umount', [mountPoint]);
    rmdirSync(mountPoint);
  });
  const empty = () => readdirSync(mountPoint).filter((n) => n !== 'lost+found');

  it.skipIf(mountFailure !== undefined)(
    '-o on a full disk: a short write is not success (exit 1, one line, no file)',
    async () => {
      const result = await runCli([big, '-o', join(mountPoint, 'accounts.csv'), '-q']);
      expect(result.code).toBe(1);
      expect(errorLine(result.stderr)).toMatch(
        /^payments: --output .*accounts\.csv: no space left on device \(ENOSPC\)$/,
      );
      expect(result.stdout).toBe('');
      expect(empty()).toEqual([]);
    },
  );
  it.skipIf(mountFailure !== undefined)('--rejects on a full disk: exit 1, nothing on stdout, no file', async () => {
    const result = await runCli([big, '--rejects', join(mountPoint, 'r.csv'), '-q']);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toMatch(/^payments: --rejects .*r\.csv: no space left on device \(ENOSPC\)$/);
    expect(result.stdout).toBe('');
    expect(empty()).toEqual([]);
  });
  it.skipIf(mountFailure !== undefined)('generate OUT on a full disk: exit 1, no file', async () => {
    const result = await runCli(['generate', '-n', '20000', '-c', '50', '-q', join(mountPoint, 'g.csv')]);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toMatch(/^payments: OUT .*g\.csv: no space left on device \(ENOSPC\)$/);
    expect(empty()).toEqual([]);
  });
});

describe('review: every output is written before standard output', () => {
  for (const option of ['--rejects', '--report', '--metrics']) {
    it(`${option} /dev/full: exit 1 and nothing on standard output`, async () => {
      const { input } = withInput();
      const result = await runCli([input, option, '/dev/full', '-q']);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(errorLine(result.stderr)).toBe(`payments: ${option} /dev/full: no space left on device (ENOSPC)`);
    });
  }
  it('a failing output leaves no other output file either', async () => {
    const { dir, input } = withInput();
    const result = await runCli([input, '--rejects', join(dir, 'r.csv'), '--report', '/dev/full', '-q']);
    expect(result.code).toBe(1);
    expect(readdirSync(dir)).toEqual(['in.csv']);
  });
});

describe('review: standard output is compared with the input and the outputs', () => {
  const sh = (dir: string, script: string) => spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8' });
  it('--rejects x.csv > x.csv is exit 2', () => {
    const { dir } = withInput();
    const result = sh(dir, `node '${binPath}' in.csv --rejects x.csv -q > x.csv`);
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--rejects x\.csv: is the same file as standard output/);
  });
  it('payments in.csv >> in.csv is exit 2 and the input is untouched', () => {
    const { dir, input } = withInput();
    const result = sh(dir, `node '${binPath}' in.csv -q >> in.csv`);
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toBe(
      'payments: standard output is the same file as the input; redirect it to another file',
    );
    expect(readFileSync(input, 'utf8')).toBe(sample);
  });
  it('--rejects /dev/stdout with standard output redirected to a file is exit 2', () => {
    const { dir } = withInput();
    const result = sh(dir, `node '${binPath}' in.csv --rejects /dev/stdout -q > so.txt`);
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--rejects \/dev\/stdout: is the same file as standard output/);
    expect(readFileSync(join(dir, 'so.txt'), 'utf8')).toBe('');
  });
  it('/dev/null as standard output, with -o naming the file stdout would be, is fine', () => {
    const { dir } = withInput();
    expect(sh(dir, `node '${binPath}' in.csv -q > /dev/null`).status).toBe(0);
    expect(sh(dir, `node '${binPath}' in.csv -o a.csv -q >> a.csv`).status).toBe(0);
  });
});

describe('review: a dangling symbolic link as an output', () => {
  it('writes the file it points at, and the link stays a link', async () => {
    const { dir, input } = withInput();
    symlinkSync('target.csv', join(dir, 'dang.csv'));
    const result = await runCli([input, '--rejects', join(dir, 'dang.csv'), '-q']);
    expect(result.code).toBe(0);
    expect(lstatSync(join(dir, 'dang.csv')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'target.csv'), 'utf8')).toBe(
      readFileSync(join(repoRoot, 'data/sample.rejects.csv'), 'utf8'),
    );
  });
  it('into a missing directory: exit 2 naming the directory it leads to, not the one holding it', async () => {
    const { dir, input } = withInput();
    symlinkSync(join(dir, 'gone', 'target.csv'), join(dir, 'dang.csv'));
    await expectRefused(
      [input, '-o', join(dir, 'dang.csv')],
      new RegExp(`-o(utput)? .*dang\\.csv: the directory .*/gone \\(where the symbolic link leads\\) does not exist`),
    );
    expect(readdirSync(dir).sort()).toEqual(['dang.csv', 'in.csv']);
  });
  it('is the same file as an output naming its target', async () => {
    const { dir, input } = withInput();
    symlinkSync('sub/../target.csv', join(dir, 'dang.csv'));
    mkdirSync(join(dir, 'sub'));
    await expectRefused(
      [input, '--rejects', join(dir, 'dang.csv'), '--report', join(dir, 'target.csv')],
      /--report .*target\.csv: is the same file as --rejects/,
    );
    expect(readdirSync(dir).sort()).toEqual(['dang.csv', 'in.csv', 'sub']);
  });
});

describe('review: an existing read-only output file is refused, root included', () => {
  it('no write bit for anyone: exit 2, the file untouched', async () => {
    const { dir, input } = withInput();
    const readOnly = join(dir, 'ro.csv');
    writeFileSync(readOnly, 'keep\n', { mode: 0o444 });
    await expectRefused([input, '--rejects', readOnly], /--rejects .*ro\.csv: .*(read-only|not writable)/);
    expect(readFileSync(readOnly, 'utf8')).toBe('keep\n');
  });
});

describe('review: a second signal exits at once', () => {
  it("and takes the run's temporary files with it", async () => {
    const dir = tmp();
    const input = join(dir, 'in.csv');
    const gen = await runCli(['generate', '-n', '400000', '-c', '1000', '-q', input]);
    expect(gen.code).toBe(0);
    const child = spawn(process.execPath, [binPath, input, '--rejects', join(dir, 'r.csv'), '-q', '-w', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    // The rejects temporary file exists from before the first row is read until the run ends.
    const hasTemp = () => readdirSync(dir).some((n) => n.endsWith('.tmp'));
    while (!hasTemp() && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    expect(hasTemp()).toBe(true);
    // Two different signals: the kernel may merge two of the same kind into one.
    child.kill('SIGINT');
    child.kill('SIGTERM');
    // The second signal ends the process by that signal (a shell reports 130 / 143).
    expect(['SIGINT', 'SIGTERM']).toContain(await exited);
    expect(readdirSync(dir)).toEqual(['in.csv']);
  }, 60_000);
});

describe('review: stale temporary files of a zombie process', () => {
  it('are removed (kill(pid, 0) succeeds for a zombie, /proc says Z)', async () => {
    const dir = tmp();
    // `sleep 0.3` becomes a zombie: its parent is exec'd into `sleep 30`, which never reaps it (it
    // outlives the exec: one that ended before it could be reaped by bash, and vanish).
    const parent = spawn('bash', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(
        await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(String(d)))),
      );
      const state = () => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch {
          return undefined;
        }
      };
      for (let i = 0; i < 2000 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 5));
      expect(state()).toBe('Z');
      const stale = join(dir, `.out.csv.payments-${pid}-0123456789abcdef.tmp`);
      writeFileSync(stale, 'partial');
      const file = await OutputFile.open(join(dir, 'out.csv'), { option: '--rejects' });
      await file.discard();
      expect(existsSync(stale)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('review: a directory where no file can be created is refused before reading, root included', () => {
  // access() answers yes to root in sysfs and procfs; only creating a file there tells.
  for (const [option, dir] of [
    ['-o', '/sys'],
    ['--rejects', '/proc'],
  ] as const) {
    it.skipIf(!existsSync(join(dir, 'self')) && !existsSync(join(dir, 'kernel')))(
      `${option} ${dir}/x.csv: exit 2`,
      async () => {
        const { input } = withInput();
        await expectRefused(
          [input, option, `${dir}/x.csv`],
          new RegExp(`${dir}/x\\.csv: .*(no file can be created|not writable)`),
        );
      },
    );
  }
});

describe('review: a journal directory in a kernel filesystem is exit 2 before reading', () => {
  // Node's mkdir({ recursive: true }) spins forever in procfs: the run must never get that far.
  const journalRun = (journal: string) => {
    const { input } = withInput();
    return spawnSync(process.execPath, [binPath, input, '--journal', journal, '-q'], {
      encoding: 'utf8',
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
  };
  it.skipIf(!existsSync('/proc/self'))('--journal /proc/x', () => {
    const result = journalRun('/proc/x');
    expect(result.status).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/--journal \/proc\/x: .*(where no file can be created|not writable)/);
  });
  it('--journal naming a dangling symbolic link: the directory it names is made, the link stays a link', () => {
    const dir = tmp();
    const link = join(dir, 'journal-link');
    symlinkSync('made-here', link);
    const result = journalRun(link);
    expect(result.status, result.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync(join(dir, 'made-here', 'manifest.json'))).toBe(true);
  });
});

describe('a name of bytes that are not UTF-8', () => {
  it('is refused (exit 2), never taken for the file whose name has U+FFFD in their place', () => {
    const dir = tmp();
    // The file a mangled name would land on: it must be left alone.
    writeFileSync(join(dir, '\uFFFD.csv'), 'important\n');
    writeFileSync(join(dir, 'in.csv'), sample);
    const run = (shell: string, env: Record<string, string> = {}) =>
      spawnSync('bash', ['-c', shell], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
    for (const shell of [
      `node ${binPath} in.csv -q -o $'\\xfe.csv'`,
      `node ${binPath} in.csv -q --journal $'jr\\xff'`,
      `PAYMENTS_REJECTS=$'r\\xfe.csv' node ${binPath} in.csv -q`,
    ]) {
      const result = run(shell);
      expect(result.status, `${shell}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe('');
      expect(errorLine(result.stderr)).toMatch(/holds bytes that are not UTF-8/);
    }
    // Named by where it is, never echoed (it may be a URL with a password).
    expect(errorLine(run(`node ${binPath} in.csv -q --journal $'postgres://u:p\\xe9ss@h/db'`).stderr)).toMatch(
      /^payments: the value of --journal holds bytes that are not UTF-8/,
    );
    // A PAYMENTS_* variable that is no option of the command is ignored, as any such variable is.
    expect(run(`PAYMENTS_FOO=$'x\\xff' node ${binPath} in.csv -q`).status).toBe(0);
    expect(readFileSync(join(dir, '\uFFFD.csv'), 'utf8')).toBe('important\n');
    expect(readdirSync(dir).sort()).toEqual(['in.csv', '\uFFFD.csv']);
  });
});
