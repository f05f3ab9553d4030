/**
 * The one error vocabulary of the program. Every failure that ends a run is a RunError with an exit
 * code (SPEC "Exit status"): 2 for usage and input errors found before any work, 1 for anything that
 * fails part-way, 130 / 143 for a run stopped by SIGINT / SIGTERM. The CLI prints `message` on one
 * line; `usageHint` adds "Run payments --help" (for argument mistakes only, never decided by text).
 *
 * Errors cross the worker-thread boundary as plain data (`toFailureData` / `fromFailureData`), never
 * as objects that structured clone turns into `[object Object]` or as message prefixes.
 */

export type FailureKind =
  /** A mistake in the command line or its environment (exit 2). */
  | 'usage'
  /** The input or an output path cannot be used (exit 2). */
  | 'input'
  /** A journal that does not match this input, is damaged, or is from a newer format (exit 2). */
  | 'journal-mismatch'
  /** A journal already in use by another run (exit 2). */
  | 'journal-busy'
  /** A native module (better-sqlite3) whose binary is missing (exit 2). */
  | 'native-module'
  /** Anything that fails part-way: I/O, a full disk, a worker crash (exit 1). */
  | 'failure'
  /** Stopped by a signal (130 / 143). */
  | 'stopped'
  /** Standard output was closed by its reader (`| head`): the run ends quietly, exit 141. */
  | 'broken-pipe';

export interface RunErrorOptions {
  /** Print the "Run payments --help" hint after the message. */
  readonly usageHint?: boolean;
  readonly kind?: FailureKind;
  /** The Node or SQLite error code behind it (`ENOSPC`, `SQLITE_FULL`), when there is one. */
  readonly code?: string;
}

/**
 * A wait on a pipe given up because the run was asked to stop: an output's reader that never came
 * or stopped reading, or the input FIFO's writer that never came. Never a failure of the file; the
 * run turns it into exit 130 / 143 by the signal.
 */
export class StoppedWaiting extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'StoppedWaiting';
  }
}

export class RunError extends Error {
  readonly usageHint: boolean;
  readonly kind: FailureKind;
  readonly code: string | undefined;
  constructor(
    message: string,
    readonly exitCode: number,
    options: RunErrorOptions = {},
  ) {
    super(message);
    this.name = 'RunError';
    this.usageHint = options.usageHint ?? false;
    this.kind = options.kind ?? (exitCode === 2 ? 'usage' : exitCode === 1 ? 'failure' : 'stopped');
    this.code = options.code;
  }
}

/** Exit 2: a command-line mistake; `usageHint` for argument errors that --help answers. */
export const usageError = (message: string, options: { usageHint?: boolean } = {}): RunError =>
  new RunError(message, 2, { kind: 'usage', usageHint: options.usageHint });

/** Exit 2: an input or output path that cannot be used. */
export const inputError = (message: string): RunError => new RunError(message, 2, { kind: 'input' });

/** Exit 1: a failure part-way through a run. */
export const runFailure = (message: string): RunError => new RunError(message, 1, { kind: 'failure' });

/** A journal that cannot be trusted: damaged, from another input, or from a newer format (exit 2). */
export class JournalCorrupt extends RunError {
  constructor(message: string) {
    super(message, 2, { kind: 'journal-mismatch' });
    this.name = 'JournalCorrupt';
  }
}

/** Exit 141 (128 + SIGPIPE, what a shell shows for a process killed by a broken pipe): quiet. */
export const brokenPipe = (): RunError =>
  new RunError('standard output was closed before the accounts were written', 141, { kind: 'broken-pipe' });

/** A native module that was installed without its compiled binding. */
export const nativeModuleMissing = (module: string): RunError =>
  new RunError(`${module}: its native binding is missing; run npm rebuild ${module}`, 2, { kind: 'native-module' });

/** A failure as plain data, to cross a worker-thread boundary intact. */
export interface FailureData {
  readonly kind: FailureKind;
  readonly message: string;
  readonly exitCode: number;
  /** A Node or SQLite error code (`ENOSPC`, `SQLITE_FULL`), when there is one. */
  readonly code?: string;
  readonly stack?: string;
}

export function toFailureData(error: unknown): FailureData {
  const code = error instanceof RunError ? error.code : errorCode(error);
  const stack = error instanceof Error ? error.stack : undefined;
  if (error instanceof RunError)
    return { kind: error.kind, message: error.message, exitCode: error.exitCode, code, stack };
  return { kind: 'failure', message: describeError(error), exitCode: 1, code, stack };
}

export function fromFailureData(data: FailureData): RunError {
  const error =
    data.kind === 'journal-mismatch'
      ? new JournalCorrupt(data.message)
      : new RunError(data.message, data.exitCode, { kind: data.kind, code: data.code });
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

/** A Node system error's code (`ENOENT`, ...), if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  // A RunError without a code has `code: undefined`: that is no code, not the word "undefined".
  return code === undefined || code === null ? undefined : String(code);
}

/** The words of any thrown value: an Error's message, else a readable rendering (never `[object Object]`). */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    try {
      return JSON.stringify(error);
    } catch {
      return Object.prototype.toString.call(error);
    }
  }
  return String(error);
}
