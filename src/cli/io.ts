/** Where the CLI reads and writes: injectable, so tests can call `run(argv, io)` in-process. */
import { brokenPipe, errorCode, runFailure, StoppedWaiting } from '../errors.js';

export interface CliIo {
  /**
   * Rejects with a RunError: exit 141 for a closed pipe (EPIPE), exit 1 for anything else; with
   * StoppedWaiting when `signal` (a stop request) comes while the reader has not taken it all.
   */
  stdout(text: string, signal?: AbortSignal): Promise<void>;
  stderr(text: string): void;
  readonly stderrIsTty: boolean;
  readonly stdinIsTty: boolean;
}

let guarded = false;

/**
 * True once a stop gave up on a write to standard output. Node never closes stdout, so that write
 * stays pending in libuv and keeps the process alive: bin.ts then leaves with process.exit.
 */
export let stdoutAbandoned = false;

/**
 * Without a listener, a write error on stdout or stderr (EPIPE, ENOSPC) is also thrown as an uncaught
 * exception with a stack trace; the write callbacks report it instead.
 */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
}

export const processIo: CliIo = {
  stdout: (text, signal) =>
    new Promise((resolve, reject) => {
      guardStdio();
      // A stalled reader would hold the run for ever: a stop gives up on it (what the reader took
      // cannot be taken back).
      const onAbort = () => {
        stdoutAbandoned = true;
        reject(new StoppedWaiting('while standard output was not being read'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      process.stdout.write(text, (error) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(stdoutError(error));
        else resolve();
      });
    }),
  stderr: (text) => {
    process.stderr.write(text);
  },
  get stderrIsTty() {
    return process.stderr.isTTY === true;
  },
  get stdinIsTty() {
    return process.stdin.isTTY === true;
  },
};

function stdoutError(error: unknown): Error {
  const code = errorCode(error);
  if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') return brokenPipe();
  if (code === 'ENOSPC') return runFailure('standard output: no space left on device (ENOSPC)');
  return runFailure(`standard output: cannot write (${code ?? String(error)})`);
}

/** yargs reads a lone `-` as an empty flag; run() swaps it for this token before parsing. */
export const stdinArg = '\u0000stdin';

/** A path argument as the user typed it (`-` back from the token). */
export const pathArg = (value: string | undefined): string | undefined => (value === stdinArg ? '-' : value);
