/**
 * SIGINT / SIGTERM stop a run whatever its files are doing: a FIFO output nobody reads, a stalled
 * reader of standard output, a stalled input. The first signal stops in bounded time (exit 130 /
 * 143, no output file left); a second ends the process at once, by that signal.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-signals-'));
const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
/** A bound on waiting for a process that should end: far above any normal stop, so it catches a hang only. */
const hangMs = 20_000;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  /** Resolves with how it ended, or 'hung' when it did not end within hangMs. */
  ended: () => Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'hung'>;
}

function start(args: string[], options: { stdio?: ('pipe' | 'ignore')[]; readStdout?: boolean } = {}): Running {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: repoRoot,
    stdio: (options.stdio ?? ['ignore', 'pipe', 'pipe']) as ('pipe' | 'ignore')[],
  });
  started.push(child);
  let stderr = '';
  let stdout = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (options.readStdout !== false) child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stderr: () => stderr,
    stdout: () => stdout,
    ended: () => Promise.race([exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), hangMs).unref())]),
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True once the process catches SIGTERM (its handlers are installed): bit 15 of SigCgt. */
function catchesSigterm(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << 14n)) !== 0n;
  } catch {
    return false;
  }
}

/** True while a thread of the process waits in the kernel on a pipe or FIFO (open, read or write). */
function blockedOnPipe(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).some((task) =>
      /pipe|partner/.test(readFileSync(`/proc/${pid}/task/${task}/wchan`, 'utf8')),
    );
  } catch {
    return false;
  }
}

const fifoIn = (dir: string, name = 'fifo'): string => {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return path;
};

describe('a second signal ends the process at once, by that signal', () => {
  it('while a read of a stalled input (a FIFO whose writer went quiet) blocks', async () => {
    const dir = tmp();
    const input = fifoIn(dir, 'in.csv');
    // The writer sends a header and one row, then holds the FIFO open without writing more.
    const writer = spawn('bash', [
      '-c',
      `exec 3>'${input}'; printf 'type,client,tx,amount\\ndeposit,1,1,1\\n' >&3; exec sleep 120`,
    ]);
    started.push(writer);
    const run = start([input, '--rejects', join(dir, 'r.csv'), '-w', '1']);
    const pid = run.child.pid!;
    await until(() => catchesSigterm(pid) && blockedOnPipe(pid), 'the run to block reading');
    run.child.kill('SIGTERM');
    await until(() => run.stderr().includes('SIGTERM: stopping'), 'the first signal to be taken');
    run.child.kill('SIGINT');
    expect(await run.ended()).toEqual({ code: null, signal: 'SIGINT' });
    expect(readdirSync(dir).sort()).toEqual(['in.csv']);
  });
});

/** A directory holding the sample input. */
function withInput(): { dir: string; input: string } {
  const dir = tmp();
  const input = join(dir, 'in.csv');
  writeFileSync(input, sample);
  return { dir, input };
}

/** `rows` withdrawals from clients with no money: every row is rejected (about 40 bytes of rejects each). */
function allRejected(dir: string, rows: number): string {
  const input = join(dir, 'in.csv');
  const lines = ['type,client,tx,amount'];
  for (let i = 1; i <= rows; i++) lines.push(`withdrawal,${(i % 500) + 1},${i},1.5`);
  writeFileSync(input, `${lines.join('\n')}\n`);
  return input;
}

describe('the first signal stops in bounded time when the input waits on its writer', () => {
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`a FIFO input nobody writes: ${signal} is exit ${code} at once, nothing written`, async () => {
      const dir = tmp();
      const fifo = fifoIn(dir);
      const run = start([fifo, '-w', '1', '-o', join(dir, 'accounts.csv')]);
      const pid = run.child.pid!;
      await until(() => catchesSigterm(pid) && blockedOnPipe(pid), 'the run to wait for a writer');
      run.child.kill(signal);
      expect(await run.ended()).toEqual({ code, signal: null });
      expect(errorLine(run.stderr())).toMatch(
        new RegExp(
          `^payments: stopped by ${signal} while waiting for a writer of the named pipe .*fifo: nothing was saved`,
        ),
      );
      expect(readdirSync(dir)).toEqual(['fifo']);
    });
  }
});

describe('the first signal stops in bounded time when standard input trickles in', () => {
  it('a row every few milliseconds, never a full read: SIGINT is exit 130 at once, not when the producer ends', async () => {
    const run = start(['-', '-w', '1', '--log-level', 'info'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdin = run.child.stdin!;
    stdin.write('type,client,tx,amount\n');
    let tx = 0;
    const producer = setInterval(() => stdin.write(`deposit,1,${++tx},1.0\n`), 5);
    try {
      await until(() => tx > 100 && catchesSigterm(run.child.pid!), 'rows to flow');
      const asked = Date.now();
      run.child.kill('SIGINT');
      const ended = await run.ended();
      expect(ended).toEqual({ code: 130, signal: null });
      expect(Date.now() - asked).toBeLessThan(hangMs / 2); // the producer would go on for ever
      expect(run.stdout()).toBe('');
    } finally {
      clearInterval(producer);
      stdin.destroy();
    }
  });
});

describe('the first signal stops in bounded time when an output waits on its reader', () => {
  for (const option of ['--rejects', '--output', '--report']) {
    it(`${option} naming a FIFO nobody opens: exit 143, nothing written, no file left`, async () => {
      const { dir, input } = withInput();
      const fifo = fifoIn(dir);
      const run = start([input, option, fifo, '-w', '1']);
      const pid = run.child.pid!;
      // It says it waits (or, were the open done through the threadpool, a thread is blocked in it).
      const waiting = () => run.stderr().includes('waiting for a reader of the named pipe') || blockedOnPipe(pid);
      await until(() => catchesSigterm(pid) && waiting(), 'the run to wait');
      run.child.kill('SIGTERM');
      expect(await run.ended()).toEqual({ code: 143, signal: null });
      expect(run.stdout()).toBe('');
      expect(errorLine(run.stderr())).toMatch(
        new RegExp(`^payments: stopped by SIGTERM while waiting for a reader of ${option} .*fifo: nothing was saved`),
      );
      expect(readdirSync(dir).sort()).toEqual(['fifo', 'in.csv']);
    });
  }

  it('--rejects to a FIFO whose reader never reads: exit 130, the other outputs not left behind', async () => {
    const dir = tmp();
    const input = allRejected(dir, 100_000);
    const fifo = fifoIn(dir);
    // The reader opens the FIFO and holds it without reading: the run's writes stall once it is full.
    const reader = spawn('bash', ['-c', `exec 3<'${fifo}'; exec sleep 120`]);
    started.push(reader);
    const run = start([
      input,
      '--rejects',
      fifo,
      '--report',
      join(dir, 'report.json'),
      '-w',
      '1',
      '--log-level',
      'debug',
    ]);
    await until(() => run.stderr().includes('run started'), 'the run to start');
    run.child.kill('SIGINT');
    expect(await run.ended()).toEqual({ code: 130, signal: null });
    expect(run.stdout()).toBe('');
    expect(errorLine(run.stderr())).toMatch(/^payments: stopped by SIGINT /);
    expect(readdirSync(dir).sort()).toEqual(['fifo', 'in.csv']);
  });

  it('standard output a pipe its reader does not read: exit 143', async () => {
    const dir = tmp();
    const input = join(dir, 'in.csv');
    // 60 000 accounts: about 2 MB of output, far more than a pipe and the reader's buffer hold.
    expect((await runCli(['generate', '-n', '120000', '-c', '60000', '-q', input])).code).toBe(0);
    const run = start([input, '--rejects', join(dir, 'r.csv'), '-w', '1'], { readStdout: false });
    const stdout = run.child.stdout!;
    // Bytes on standard output: the run has finished reading and is writing the accounts.
    await until(() => stdout.readableLength > 0, 'the accounts to start');
    run.child.kill('SIGTERM');
    expect(await run.ended()).toEqual({ code: 143, signal: null });
    expect(errorLine(run.stderr())).toMatch(/^payments: stopped by SIGTERM while standard output was not being read/);
    expect(readdirSync(dir).sort()).toEqual(['in.csv']);
  });
});
