/**
 * Failures that end a run with a one-line message and an exit code (SPEC "Exit status"):
 * 2 for usage and input errors found before any work, 1 for anything that fails part-way,
 * 130 / 143 for a run stopped by SIGINT / SIGTERM.
 */
export class RunError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'RunError';
  }
}

export const usageError = (message: string): RunError => new RunError(message, 2);
export const runFailure = (message: string): RunError => new RunError(message, 1);

/** A Node system error's code (`ENOENT`, ...), if it has one. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
