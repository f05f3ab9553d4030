/** Runs the built CLI as a user would: `node dist/cli/bin.js …`, capturing stdout, stderr and the exit code. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const binPath = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/**
 * The error a run ended with, as words: off a terminal stderr is JSON lines, and the final one
 * (`"level":"error"`) carries the message in `msg`. Plain lines (a terminal's `payments: …`) pass through.
 */
export function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    const entry = JSON.parse(last) as { level?: string; msg?: string };
    return entry.level === 'error' ? `payments: ${entry.msg ?? ''}` : last;
  } catch {
    return last;
  }
}

/** One line on stderr (off a terminal, one JSON line: errorLine gives its words), no stack trace. */
export function expectOneLine(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(errorLine(result.stderr)).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at |FATAL/);
}
