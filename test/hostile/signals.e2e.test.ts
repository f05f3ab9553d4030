/**
 * SIGINT / SIGTERM stop a run whatever its files are doing: a FIFO output nobody reads, a stalled
 * reader of standard output, a stalled input. The first signal stops in bounded time (exit 130 /
 * 143, no output file left); a second ends the process at once, by that signal.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-signals-'));
const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
/** A bound on waiting for a process that should end: far above any normal stop, so it catches a hang only. */
const hangMs = 20_000;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
    const writer = spawn('bash', ['-c', `exec 3>'${input}'; printf 'type,client,tx,amount\\ndeposit,1,1,1\\n' >&3; exec sleep 120`]);
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
