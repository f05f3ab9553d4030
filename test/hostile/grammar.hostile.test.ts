/**
 * The grammar's edges, tried as an attacker would: look-alike keywords, rows at exactly the length
 * limit, control characters in what an error line echoes, and out-of-range `generate` options.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-grammar-'));
const header = 'client,available,held,total,locked\n';

describe('look-alike keywords', () => {
  it('chargebac\\u212a (KELVIN SIGN) is unknown_type and locks nothing', async () => {
    const dir = tmp();
    const rejects = join(dir, 'rejects.csv');
    const input = 'type,client,tx,amount\ndeposit,1,1,5\ndispute,1,1,\nchargebac\u212a,1,1,\n';
    const result = await runCli(['-', '--rejects', rejects, '-q'], { stdin: input });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${header}1,0.0000,5.0000,5.0000,false\n`);
    expect(readFileSync(rejects, 'utf8')).toBe(
      'line,type,client,tx,amount,reason\n4,chargebac\u212a,1,1,,unknown_type\n',
    );
  });
});

/** Runs `command` under a pseudo-terminal (script(1)) and returns what the terminal received. */
function underTerminal(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

// A window-title escape, a bell, a line break, a C1 CSI and a right-to-left override.
const hostilePath = 'x\x1b]0;pwned\x07\n\x9b2J\u202e.csv';
const rawControl = /[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202e]/;

describe('control characters in what an error echoes', () => {
  it('on a terminal: the path is printed escaped, on one line, and no escape sequence reaches the terminal', async () => {
    const dir = tmp();
    const out = await underTerminal(`${process.execPath} ${binPath} "$HOSTILE" > /dev/null`, {
      HOSTILE: join(dir, hostilePath),
    });
    const lines = out.replace(/\r\n/g, '\n').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`payments: ${dir}/x\\x1b]0;pwned\\x07\\n\\x9b2J\\u202e.csv: no such file`);
    expect(out).not.toMatch(rawControl);
  });

  it('on a terminal: the generate summary escapes its OUT path too', async () => {
    const dir = tmp();
    const out = await underTerminal(`${process.execPath} ${binPath} generate -n 1 -c 1 --no-progress "$HOSTILE"`, {
      HOSTILE: join(dir, hostilePath),
    });
    expect(out).toMatch(/generated 1 rows .* → .*x\\x1b\]0;pwned\\x07\\n\\x9b2J\\u202e\.csv/);
    expect(out).not.toMatch(rawControl);
  });

  it('off a terminal: one JSON line whose msg is the exact path, with nothing raw that a terminal would obey', async () => {
    const path = join(tmp(), hostilePath);
    const result = await runCli([path]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(rawControl);
    expect(errorLine(result.stderr)).toBe(`payments: ${path}: no such file`);
  });
});

describe('a row of exactly 1 MiB (1048576 bytes) is read, one byte more is exit 1', () => {
  // A deposit whose amount has leading zeros up to the wanted length: at the limit it is a real row.
  const rowOf = (length: number) => `deposit,1,2,${'0'.repeat(length - 'deposit,1,2,5'.length)}5`;
  const limit = 1 << 20;
  for (const [name, eol, gzip] of [
    ['plain LF', '\n', false],
    ['plain CRLF', '\r\n', false],
    ['gzip CRLF', '\r\n', true],
  ] as const) {
    it(`${name}: limit-1 and limit are read, limit+1 names the line`, async () => {
      for (const length of [limit - 1, limit, limit + 1]) {
        const dir = tmp();
        const text = `type,client,tx,amount${eol}deposit,1,1,1${eol}${rowOf(length)}${eol}`;
        const path = join(dir, gzip ? 'in.csv.gz' : 'in.csv');
        writeFileSync(path, gzip ? gzipSync(text) : text);
        const rejects = join(dir, 'rejects.csv');
        const result = await runCli([path, '--rejects', rejects, '-q']);
        if (length <= limit) {
          expect(result.code, `${length}: ${result.stderr}`).toBe(0);
          expect(result.stdout).toBe(`${header}1,6.0000,0.0000,6.0000,false\n`);
        } else {
          expect(result.code).toBe(1);
          expect(result.stdout).toBe('');
          expect(errorLine(result.stderr)).toBe(
            `payments: ${path}:3: a row longer than 1 MiB (1048576 bytes, not counting its line break); fix the row and run again`,
          );
          expect(readdirSync(dir)).toEqual([gzip ? 'in.csv.gz' : 'in.csv']);
        }
      }
    });
  }
});
