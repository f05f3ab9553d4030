/** The terminal: summary and bar under a pseudo-terminal (script(1)), NO_COLOR, JSON-only stderr off it. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-terminal-'));
const small = join(dir, 'small.csv');
const big = join(dir, 'big.csv');

/** Runs `command` under a pseudo-terminal; `onOutput` sees the output so far and may act on it. */
function underTerminal(
  command: string,
  env: NodeJS.ProcessEnv = {},
  onOutput?: (text: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      onOutput?.(out);
    });
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

beforeAll(async () => {
  expect((await runCli(['generate', '-n', '20000', '-c', '50', '--bad-rate', '0.05', '-q', small])).code).toBe(0);
  expect((await runCli(['generate', '-n', '3000000', '-c', '1000', '-q', big])).code).toBe(0);
}, 120_000);

describe('on a terminal', () => {
  it('ends with a short summary with thousands separators, not the JSON report', async () => {
    const out = await underTerminal(`${process.execPath} ${binPath} ${small} > /dev/null`);
    expect(out).toMatch(/20,000 rows.* in [\d.]+ s \([\d,]+ rows\/s\)/);
    expect(out).toMatch(/rejected +[\d,]+ +\(.*duplicate_tx [\d,]+/);
    expect(out).toMatch(/accounts +50/);
    expect(out).not.toMatch(/"report"|schemaVersion/);
    expect(out).toMatch(/payments \[.*\] 100% \| .* MB \| 20,000 rows/);
  });

  it('colours by default; NO_COLOR and --no-color turn colour off', async () => {
    const command = `${process.execPath} ${binPath} ${small} > /dev/null`;
    expect(await underTerminal(command)).toMatch(/\x1b\[1m/);
    expect(await underTerminal(command, { NO_COLOR: '1' })).not.toMatch(/\x1b\[(1|3\d|4\d|9\d)m/);
    expect(await underTerminal(`${command} --no-color`)).not.toMatch(/\x1b\[(1|3\d|4\d|9\d)m/);
  });

  it('clears the bar for a log line in the middle of a run, prints the line whole, and redraws the bar', async () => {
    let signalled = false;
    const out = await underTerminal(
      `${process.execPath} ${binPath} ${big} --workers 1 --no-color > /dev/null & echo "PID=$!"; wait`,
      {},
      (text) => {
        const pid = /PID=(\d+)/.exec(text)?.[1];
        // Once the bar shows rows, a SIGINT makes the run log a warning mid-run.
        if (!signalled && pid !== undefined && /payments \[.*\] \d+% .* [1-9][\d,]* rows/.test(text)) {
          signalled = true;
          process.kill(Number(pid), 'SIGINT');
        }
      },
    );
    expect(signalled).toBe(true);
    expect(out).toMatch(
      /\r\x1b\[2K\d\d:\d\d:\d\d WARN  SIGINT: stopping after the batches in flight \(send it again to exit at once\)\r?\npayments \[/,
    );
    expect(out).toMatch(/stopped by SIGINT after line \d+/);
  }, 120_000);
});

describe('off a terminal', () => {
  it('every stderr line is one JSON object with a level name, the final error included', async () => {
    const ok = await runCli([small, '--log-level', 'debug']);
    const failed = await runCli([join(dir, 'missing.csv')]);
    const lines = [...ok.stderr.trim().split('\n'), ...failed.stderr.trim().split('\n')];
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) {
      const entry = JSON.parse(line) as { level: unknown; msg: unknown };
      expect(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).toContain(entry.level);
      expect(typeof entry.msg).toBe('string');
    }
    expect(JSON.parse(failed.stderr)).toMatchObject({
      level: 'error',
      exitCode: 2,
      msg: expect.stringMatching(/missing\.csv: no such file/),
    });
  });
});
