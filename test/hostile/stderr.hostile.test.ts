/**
 * Standard error is diagnostics, not results: when it cannot be written (a full log disk, run here
 * with stderr opened on /dev/full), the exit code and the outputs are what they would have been,
 * and a lost log line never turns a finished run into a failure.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, repoRoot } from '../helpers/cli.js';

const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
const expectedAccounts = readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8');
const expectedRejects = readFileSync(join(repoRoot, 'data/sample.rejects.csv'), 'utf8');

function withInput(text = sample): { dir: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), 'payments-stderr-'));
  const input = join(dir, 'in.csv');
  writeFileSync(input, text);
  return { dir, input };
}

/** Runs the CLI with standard error opened on /dev/full: every write to it fails with ENOSPC. */
function runWithFullStderr(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const full = openSync('/dev/full', 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', full] });
    closeSync(full);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('2>/dev/full: a finished run is exit 0 with every output', () => {
  it('the end-of-run log line failing: accounts on stdout, rejects and report kept', async () => {
    const { dir, input } = withInput();
    const result = await runWithFullStderr([input, '--rejects', join(dir, 'r.csv'), '--report', join(dir, 'rep.json')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expectedAccounts);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe(expectedRejects);
    expect(JSON.parse(readFileSync(join(dir, 'rep.json'), 'utf8')).rowsRead).toBeGreaterThan(0);
  });

  it('log lines failing from the start (debug): the report counts the lines lost', async () => {
    const { dir, input } = withInput();
    const result = await runWithFullStderr([
      input,
      '--log-level',
      'debug',
      '-o',
      join(dir, 'accounts.csv'),
      '--rejects',
      join(dir, 'r.csv'),
      '--report',
      join(dir, 'rep.json'),
      '--metrics',
      join(dir, 'm.prom'),
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(readFileSync(join(dir, 'accounts.csv'), 'utf8')).toBe(expectedAccounts);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe(expectedRejects);
    expect(existsSync(join(dir, 'm.prom'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'rep.json'), 'utf8')).logLinesLost).toBeGreaterThan(0);
  });

  it("worker threads' log lines failing (trace): exit 0", async () => {
    const { dir, input } = withInput();
    const result = await runWithFullStderr([input, '--log-level', 'trace', '-w', '2', '--rejects', join(dir, 'r.csv')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expectedAccounts);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe(expectedRejects);
  });

  it('replay of a journal: exit 0 with the accounts', async () => {
    const { dir, input } = withInput();
    const journal = join(dir, 'j');
    const first = await runWithFullStderr([input, '--journal', journal, '-q']);
    expect(first.code).toBe(0);
    const replayed = await runWithFullStderr(['replay', '--journal', journal]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(expectedAccounts);
  });
});

describe('standard error closed by its reader (EPIPE; SIGPIPE is ignored)', () => {
  it('a finished run is exit 0 with every output', async () => {
    const { dir, input } = withInput();
    const child = spawn(process.execPath, [binPath, input, '--log-level', 'debug', '--rejects', join(dir, 'r.csv')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.destroy(); // the reader goes away before the first line
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe(expectedAccounts);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe(expectedRejects);
  });
});

describe('2>/dev/full: a failing run is still exit 1 with nothing left behind', () => {
  it('an unterminated quote: exit 1, no accounts, no rejects or report file', async () => {
    const { dir, input } = withInput(`${sample}deposit,1,99,"1.0\n`);
    const result = await runWithFullStderr([input, '--rejects', join(dir, 'r.csv'), '--report', join(dir, 'rep.json')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(readdirSync(dir)).toEqual(['in.csv']);
  });
});
