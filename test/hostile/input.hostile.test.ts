/**
 * The input edge, tried as a careless exporter or an attacker would (the contract's quotes, header and
 * input-format rules): broken quotes, far-right header columns, a file cut while it is read,
 * other delimiters and encodings, gzip, classic-Mac line endings. Each answer is a rejected row or
 * one line with an exit code, never lost rows or a partial result.
 */
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import {
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readChunkBytes } from '../../src/constants.js';
import { binPath, errorLine, repoRoot, runCli, type CliResult } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-hostile-'));
const header = 'client,available,held,total,locked\n';
/** The run's one error line (stderr off a terminal is one JSON line; see errorLine), with its newline. */
const oneError = (stderr: string): string => {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  return `${errorLine(stderr)}\n`;
};
const noStack = (r: CliResult) => expect(r.stderr).not.toMatch(/\n\s+at /);

async function runWithReport(path: string, extra: string[] = []) {
  const dir = tmp();
  const rejects = join(dir, 'rejects.csv');
  const report = join(dir, 'report.json');
  const result = await runCli([path, '--rejects', rejects, '--report', report, '--quiet', ...extra]);
  return {
    result,
    rejects: existsSync(rejects) ? readFileSync(rejects, 'utf8') : undefined,
    report: existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : undefined,
  };
}

/** SPEC: rows read + empty lines + the header = physical lines, less line breaks inside quoted fields. */
function expectLinesAddUp(report: { rowsRead: number; lines: Record<string, number> }, physical: number) {
  const { lines } = report;
  expect(lines.physical).toBe(physical);
  expect(lines.rows).toBe(report.rowsRead);
  expect(lines.header! + lines.blank! + lines.rows!).toBe(lines.physical! - lines.quotedLineBreaks!);
}

function file(name: string, content: string | Buffer): string {
  const path = join(tmp(), name);
  writeFileSync(path, content);
  return path;
}

describe('stray quotes never lose rows', () => {
  it('the issue\'s "Acme" Inc memo: that row is malformed_row, the rows after it are applied', async () => {
    const path = file(
      'q.csv',
      'type,client,tx,amount,memo\ndeposit,1,1,5,"Acme" Inc\ndeposit,2,2,7,ok\ndeposit,3,3,9,ok\n',
    );
    const { result, rejects, report } = await runWithReport(path);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${header}2,7.0000,0.0000,7.0000,false\n3,9.0000,0.0000,9.0000,false\n`);
    expect(rejects).toBe('line,type,client,tx,amount,reason\n2,deposit,1,1,5,malformed_row\n');
    expect(report.rowsRead).toBe(3);
    expectLinesAddUp(report, 4);
  });

  it('30,000 rows after such a memo are all read', async () => {
    const rows = Array.from({ length: 30_000 }, (_, i) => `deposit,${i % 100},${i + 10},1.5,ok`);
    const path = file('big.csv', ['type,client,tx,amount,memo', 'deposit,1,1,5,"Acme" Inc', ...rows, ''].join('\n'));
    const { result, report } = await runWithReport(path, ['--workers', '2']);
    expect(result.code).toBe(0);
    expect(report.rowsRead).toBe(30_001);
    expect(report.rowsRejected).toBe(1);
    expect(report.rejectedByReason.malformed_row).toBe(1);
    expect(result.stdout.split('\n').length - 2).toBe(100);
    expectLinesAddUp(report, 30_002);
  });

  it('a quote inside an unquoted field, and junk after a multi-line quoted field', async () => {
    const path = file(
      'inside.csv',
      'type,client,tx,amount\ndeposit,1,1,5"0\n\ndeposit,2,2,"1\n0" x\ndeposit,3,3,"2.5"\r\ndeposit,4,4,"3\n"\n',
    );
    const { result, rejects, report } = await runWithReport(path);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${header}3,2.5000,0.0000,2.5000,false\n4,3.0000,0.0000,3.0000,false\n`);
    expect(rejects).toBe(
      'line,type,client,tx,amount,reason\n2,deposit,1,1,"5""0",malformed_row\n4,deposit,2,2,"""1\n0"" x",malformed_row\n',
    );
    expect(report.lines).toEqual({ physical: 8, header: 1, blank: 1, rows: 4, quotedLineBreaks: 2 });
    expectLinesAddUp(report, 8);
  });

  it('an unterminated quote is exit 1 naming the line where it opened, nothing on stdout', async () => {
    const path = file('open.csv', 'type,client,tx,amount\ndeposit,1,1,5\ndeposit,2,2,"7\ndeposit,3,3,9\n');
    const result = await runCli([path, '--quiet']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(oneError(result.stderr)).toBe(
      `payments: ${path}:3: a quoted field opened on this line is never closed (unterminated quote); fix its quotes and run again\n`,
    );
  });
});

describe('the header rule as SPEC states it', () => {
  const wide = (quoted: boolean) => {
    const names = Array.from({ length: 70 }, (_, i) => `extra${i}`);
    names[0] = 'type';
    names[66] = 'amount';
    names[67] = 'tx';
    names[68] = 'client';
    const row = (type: string, client: number, tx: number, amount: string) => {
      const fields: string[] = Array.from({ length: 70 }, () => (quoted ? '"x"' : 'x'));
      [fields[0], fields[66], fields[67], fields[68]] = [type, amount, String(tx), String(client)];
      return fields.join(',');
    };
    return [
      names.join(','),
      row('deposit', 1, 1, '2.5'),
      row('withdrawal', 1, 2, '1'),
      row('deposit', 2, 3, '4'),
      '',
    ].join('\n');
  };
  for (const quoted of [false, true]) {
    it(`finds client, tx and amount after column 64 (${quoted ? 'quoted' : 'plain'} fields)`, async () => {
      const result = await runCli([file('wide.csv', wide(quoted)), '--quiet', '--workers', '2']);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${header}1,1.5000,0.0000,1.5000,false\n2,4.0000,0.0000,4.0000,false\n`);
    });
  }
});

/** The fd of `path` in process `pid`, from /proc (Linux). */
function fdOf(pid: number, path: string): string | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).find((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return undefined;
  }
}

function positionOf(pid: number, fd: string): number {
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  return Number(/^pos:\s*(\d+)/m.exec(info)?.[1] ?? 0);
}

/**
 * Runs the CLI on `path` and truncates the file to a third once reading has started: the process
 * is stopped (SIGSTOP) while part-way through the file, the file cut, the process continued.
 * Part-way is past the first read: a durable run reads the first one on its own beforehand (to
 * judge the first line before it makes a journal), and a file cut then is simply a smaller file.
 */
async function runTruncatedMidway(path: string, extra: string[]): Promise<CliResult & { cut: boolean }> {
  const size = readFileSync(path).length;
  const child = spawn(process.execPath, [binPath, path, '--quiet', '--workers', '1', ...extra], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (code, signal) => resolve([code, signal])),
  );
  let exited = false;
  void closed.then(() => (exited = true));
  let cut = false;
  const pid = child.pid!;
  while (!exited && !cut) {
    const fd = fdOf(pid, path);
    if (fd !== undefined && positionOf(pid, fd) > readChunkBytes) {
      process.kill(pid, 'SIGSTOP');
      if (positionOf(pid, fd) < size) {
        truncateSync(path, Math.floor(size / 3));
        cut = true;
      }
      process.kill(pid, 'SIGCONT');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const [code, signal] = await closed;
  return { code, signal, stdout, stderr, cut };
}

describe('input that changes under the run', () => {
  const haveProc = existsSync('/proc/self/fdinfo');
  const big = async () => {
    const path = join(tmp(), 'big.csv');
    const made = await runCli(['generate', '-n', '1500000', '-c', '500', path, '--no-progress']);
    expect(made.code).toBe(0);
    return path;
  };

  it.skipIf(!haveProc)('a file truncated while it is read is exit 1, nothing on stdout (needs /proc)', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const path = await big();
      const result = await runTruncatedMidway(path, []);
      if (!result.cut) continue; // read to the end before it could be cut: try again
      expect(oneError(result.stderr)).toBe(`payments: ${path}: input changed while it was read\n`);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      return;
    }
    throw new Error('the run always finished before the file could be truncated');
  });

  it.skipIf(!haveProc)('with --journal the run stays resumable: the manifest is not complete', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const path = await big();
      const journal = join(tmp(), 'journal');
      const result = await runTruncatedMidway(path, ['--journal', journal]);
      if (!result.cut) continue;
      expect(result.stderr).toMatch(/input changed while it was read/);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const manifest = JSON.parse(readFileSync(join(journal, 'manifest.json'), 'utf8'));
      expect(manifest.complete).toBe(false);
      return;
    }
    throw new Error('the run always finished before the file could be truncated');
  });
});

const plainCsv = 'type,client,tx,amount\ndeposit,1,1,5\ndeposit,2,2,7.25\nwithdrawal,1,3,1\ndispute,2,2\n';
const plainOut = `${header}1,4.0000,0.0000,4.0000,false\n2,0.0000,7.2500,7.2500,false\n`;

describe('input formats', () => {
  const excel = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from(plainCsv.replaceAll(',', ';').replaceAll('\n', '\r\n')),
  ]);

  it("a ';' Excel export (BOM, CRLF) is exit 2 with the option to pass", async () => {
    const path = file('excel.csv', excel);
    const result = await runCli([path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(oneError(result.stderr)).toBe(`payments: ${path}: line 1 looks ';'-separated; try --delimiter ';'\n`);
  });

  it("a ';' export with every name quoted gets the same hint", async () => {
    const result = await runCli(['-'], { stdin: '"type";"client";"tx";"amount"\n"deposit";"1";"1";"5"\n' });
    expect(result.code).toBe(2);
    expect(oneError(result.stderr)).toBe("payments: stdin: line 1 looks ';'-separated; try --delimiter ';'\n");
  });

  it("the same export with -d ';' gives the comma file's output", async () => {
    const result = await runCli([file('excel.csv', excel), '-d', ';', '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(plainOut);
  });

  it("headerless ';' data lines stay malformed_row (SPEC)", async () => {
    const { result, rejects } = await runWithReport(file('h.csv', 'deposit;1;1;5\n'));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(header);
    expect(rejects).toBe('line,type,client,tx,amount,reason\n1,deposit;1;1;5,,,,malformed_row\n');
  });

  const tsv = plainCsv.replaceAll(',', '\t');
  it('a .tsv file is tab-separated without an option', async () => {
    const result = await runCli([file('t.tsv', tsv), '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(plainOut);
  });
  for (const spelling of ['\\t', 'tab', '\t']) {
    it(`-d ${JSON.stringify(spelling)} reads tabs`, async () => {
      const result = await runCli([file('t.txt', tsv), '-d', spelling, '--quiet']);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(plainOut);
    });
  }
  it('tabs on stdin without an option: exit 2 with the hint', async () => {
    const result = await runCli(['-'], { stdin: tsv });
    expect(result.code).toBe(2);
    expect(oneError(result.stderr)).toBe('payments: stdin: line 1 looks tab-separated; try --delimiter tab\n');
  });
  it('a .tsv with quoted fields goes through the quote path with tabs', async () => {
    const result = await runCli([
      file('q.tsv', tsv.replace('deposit\t1\t1\t5', '"deposit"\t"1"\t1\t" 5 "')),
      '--quiet',
    ]);
    expect(result.stdout).toBe(plainOut);
  });

  for (const [name, bom, encoding] of [
    ['UTF-16LE', [0xff, 0xfe], 'utf16le'],
    ['UTF-16BE', [0xfe, 0xff], 'utf16be'],
  ] as const) {
    it(`a ${name} file is exit 2 with a hint to convert it`, async () => {
      let body = Buffer.from(plainCsv, 'utf16le');
      if (encoding === 'utf16be') body = Buffer.from(body).swap16();
      const path = file('u16.csv', Buffer.concat([Buffer.from(bom), body]));
      const result = await runCli([path]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(oneError(result.stderr)).toBe(
        `payments: ${path}: the input is ${name} text (it starts with a UTF-16 byte order mark); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8 ${path} > converted.csv\n`,
      );
    });
  }

  it('a .csv.gz file and gzip on stdin give the plain file’s output and rejects, byte for byte', async () => {
    const source = readFileSync(join(repoRoot, 'data/sample.csv'));
    const plain = await runWithReport(join(repoRoot, 'data/sample.csv'));
    const gz = await runWithReport(file('sample.csv.gz', gzipSync(source)));
    expect(plain.result.code).toBe(0);
    expect(gz.result.code).toBe(0);
    expect(gz.result.stdout).toBe(plain.result.stdout);
    expect(gz.rejects).toBe(plain.rejects);

    const dir = tmp();
    const gzPath = join(dir, 'in.gz');
    writeFileSync(gzPath, gzipSync(source));
    const stdin = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [binPath, '-', '--quiet'], {
        cwd: repoRoot,
        stdio: [openSync(gzPath, 'r'), 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    expect(stdin.stderr).toBe('');
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toBe(plain.result.stdout);
  });

  it('a .tsv.gz is gzip and tab-separated', async () => {
    const result = await runCli([file('t.tsv.gz', gzipSync(tsv)), '--quiet']);
    expect(result.stdout).toBe(plainOut);
  });

  it('a truncated gzip is exit 1 naming the file, nothing on stdout', async () => {
    const whole = gzipSync(Buffer.from(plainCsv.repeat(50)));
    const path = file('cut.csv.gz', whole.subarray(0, whole.length - 20));
    const result = await runCli([path, '--quiet']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(oneError(result.stderr)).toMatch(
      new RegExp(`^payments: ${path}: the gzip data is truncated or corrupt \\(.+\\)\\n$`),
    );
    noStack(result);
  });

  it('a CR-only (classic Mac) file is exit 2 with a tr hint; a CR inside a line of an LF file is white space', async () => {
    const path = file('mac.csv', plainCsv.replaceAll('\n', '\r'));
    const result = await runCli([path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(oneError(result.stderr)).toBe(
      `payments: ${path}: lines end in a lone CR (classic Mac line endings), which are not line breaks here; convert them first, e.g. tr '\\r' '\\n' < ${path} > converted.csv\n`,
    );
    const stray = await runCli(['-', '--quiet'], {
      stdin: 'type,client,tx,amount\ndeposit,1,1,5\r\ndeposit,2,2\r,7\n',
    });
    expect(stray.code).toBe(0);
    expect(stray.stdout).toBe(`${header}1,5.0000,0.0000,5.0000,false\n2,7.0000,0.0000,7.0000,false\n`);
  });

  for (const [value, why] of [
    ['ab', 'must be exactly one character'],
    ['"', 'the quote character cannot be the delimiter'],
    ['\n', 'a line break cannot be the delimiter'],
    ['§', 'must be an ASCII character'],
  ]) {
    it(`--delimiter ${JSON.stringify(value)} is exit 2 naming the option`, async () => {
      const result = await runCli(['-', '--delimiter', value!]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(oneError(result.stderr)).toMatch(new RegExp(`^payments: --delimiter .*: ${why}`));
      noStack(result);
    });
  }
});
