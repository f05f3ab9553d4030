/**
 * The durable journal, through the CLI as a user runs it: SIGKILL at random points and resume,
 * torn and damaged records, a journal from another input or a newer version, graceful stop,
 * replay (whole and --as-of-line) and inspect.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, errorLine, repoRoot, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-journal-'));
const input = join(dir, 'input.csv');
const reference = { accounts: '', rejects: '', records: 0 };

/**
 * Starts the CLI and sends it `signal` after `delayMs`, counted from when `ready()` first holds
 * (checked every 10 ms; by default at once); resolves with its exit code or signal.
 */
function runAndSignal(
  args: string[],
  delayMs: number,
  signal: NodeJS.Signals,
  ready: (stderr: string) => boolean = () => true,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timer: NodeJS.Timeout;
    const poll = () => {
      timer = ready(stderr) ? setTimeout(() => child.kill(signal), delayMs) : setTimeout(poll, 10);
    };
    poll();
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, stderr });
    });
  });
}

/** Runs into `journal` and SIGKILLs the run `delayMs` after partition 0 has committed batches (a WAL over 1 MiB). */
function killWhenJournaled(journal: string, delayMs: number) {
  const walHasData = () => {
    const wal = join(journal, 'partition-0.sqlite-wal');
    return existsSync(wal) && statSync(wal).size > 1 << 16; // a batch or more (compact batches: ~8 bytes a row)
  };
  return runAndSignal([input, '--journal', journal, '--quiet'], delayMs, 'SIGKILL', walHasData);
}

async function finish(journal: string, extra: string[] = []) {
  const rejects = join(dir, 'rejects.csv');
  const report = join(dir, 'report.json');
  const result = await runCli([input, '--journal', journal, '--rejects', rejects, '--report', report, ...extra]);
  expect(result.code, result.stderr).toBe(0);
  return {
    accounts: result.stdout,
    rejects: readFileSync(rejects, 'utf8'),
    records: JSON.parse(readFileSync(report, 'utf8')).journalRecords as number,
    stderr: result.stderr,
  };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  expect(
    (await runCli(['generate', '-n', '300000', '-c', '2000', '--seed', '11', '--bad-rate', '0.02', input])).code,
  ).toBe(0);
  const rejects = join(dir, 'ref-rejects.csv');
  const plain = await runCli([input, '--rejects', rejects, '--quiet']);
  expect(plain.code).toBe(0);
  reference.accounts = plain.stdout;
  reference.rejects = readFileSync(rejects, 'utf8');
  reference.records = (await finish(join(dir, 'uninterrupted'))).records;
});

describe('crash and resume', () => {
  it('gives the uninterrupted output after SIGKILLs at random points, and really resumes', async () => {
    let seed = 20261127;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 2; trial++) {
      const journal = join(dir, `crash-${trial}`);
      let kills = 0;
      for (let kill = 0; kill < 3; kill++) {
        // Kill once a batch is durable (partition 0's WAL has data), so that the next run has
        // something to resume; the delay after that is random.
        const killed = await killWhenJournaled(journal, random() * 150);
        if (killed.signal !== 'SIGKILL') break; // the run finished first
        kills++;
      }
      expect(kills, 'at least one kill must land mid-run').toBeGreaterThan(0);
      const resumed = await finish(journal);
      expect(resumed.stderr).toMatch(kills === 3 ? /resuming \(every shard/ : /its run had finished/);
      expect(resumed.accounts).toBe(reference.accounts);
      expect(resumed.rejects).toBe(reference.rejects);
      expect(resumed.records).toBe(reference.records); // none lost, none twice
    }
  });

  it('runs a finished journal again without applying anything', async () => {
    const journal = join(dir, 'uninterrupted');
    const again = await finish(journal);
    expect(again.accounts).toBe(reference.accounts);
    expect(again.rejects).toBe(reference.rejects);
    expect(again.records).toBe(reference.records);
    expect(again.stderr).toMatch(/its run had finished; nothing will be applied again/);
  });

  it('drops a torn last batch and applies its rows again', async () => {
    const journal = join(dir, 'torn');
    await finish(journal);
    // Cut the last batch of partition 0 short, as a write interrupted mid-record would.
    const db = new Database(join(journal, 'partition-0.sqlite'));
    db.prepare(
      'UPDATE batches SET data = substr(data, 1, length(data) - 7) WHERE first_seq = (SELECT max(first_seq) FROM batches)',
    ).run();
    db.close();
    const repaired = await finish(journal);
    expect(repaired.stderr).toMatch(/dropped a torn last batch/);
    expect(repaired.accounts).toBe(reference.accounts);
    expect(repaired.rejects).toBe(reference.rejects);
    expect(repaired.records).toBe(reference.records);
  });

  it('survives a WAL cut short after a SIGKILL', async () => {
    const journal = join(dir, 'wal');
    const killed = await killWhenJournaled(journal, 100);
    expect(killed.signal, 'the run must be killed mid-run').toBe('SIGKILL');
    const wals = readdirSync(journal).filter((f) => f.endsWith('-wal'));
    expect(wals.length).toBeGreaterThan(0);
    let cut = 0;
    for (const f of wals) {
      const path = join(journal, f);
      const size = statSync(path).size;
      if (size > 37) {
        truncateSync(path, size - 37);
        cut++;
      }
    }
    expect(cut, 'a WAL with committed frames to cut').toBeGreaterThan(0);
    const resumed = await finish(journal);
    expect(resumed.accounts).toBe(reference.accounts);
    expect(resumed.rejects).toBe(reference.rejects);
    expect(resumed.records).toBe(reference.records);
  });
});

describe('a journal that cannot be trusted: exit 2, never used', () => {
  it('a damaged batch before the last', async () => {
    const journal = join(dir, 'damaged');
    await finish(journal);
    const db = new Database(join(journal, 'partition-1.sqlite'));
    db.prepare('UPDATE batches SET data = CAST(zeroblob(length(data)) AS BLOB) WHERE first_seq = 1').run();
    db.close();
    const result = await runCli([input, '--journal', journal]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/partition 1 .*fails its checksum/);
    const replay = await runCli(['replay', '--journal', journal, '--as-of-line', '10']);
    expect(replay.code).toBe(2);
  });

  it('the same input read with another delimiter (-d): exit 2, the first reading is not kept', async () => {
    // Read with ';', every row is malformed: resuming a ','-journal would keep its balances beside
    // the second reading's rejections.
    const input = join(dir, 'delimited.csv');
    writeFileSync(input, 'type,client,tx,amount\ndeposit,1,1,10\nwithdrawal,1,2,3\n');
    const journal = join(dir, 'read-with-comma');
    expect((await runCli([input, '--journal', journal, '-q'])).stdout).toContain('1,7.0000,0.0000,7.0000,false');
    const other = await runCli([input, '--journal', journal, '-d', ';', '-q']);
    expect(other.code).toBe(2);
    expect(other.stdout).toBe('');
    expect(other.stderr).toMatch(
      /written for a different input .*, or for this file read with another delimiter \(-d;/,
    );
    const same = await runCli([input, '--journal', journal, '-d', ',', '-q']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('1,7.0000,0.0000,7.0000,false');
  });

  it('input refused at its first line leaves no journal: the corrected command runs', async () => {
    const input = join(dir, 'semicolons.csv');
    writeFileSync(input, 'type;client;tx;amount\ndeposit;1;1;10\nwithdrawal;1;2;3\n');
    const journal = join(dir, 'semicolons');
    const refused = await runCli([input, '--journal', journal, '-q']);
    expect(refused.code).toBe(2);
    expect(errorLine(refused.stderr)).toMatch(/line 1 looks ';'-separated; try --delimiter ';'/);
    expect(existsSync(journal)).toBe(false);
    const corrected = await runCli([input, '--journal', journal, '-d', ';', '-q']);
    expect(corrected.code, corrected.stderr).toBe(0);
    expect(corrected.stdout).toBe('client,available,held,total,locked\n1,7.0000,0.0000,7.0000,false\n');
    // Run again without -d, the journal's input is named as it was at first, not as another file's.
    const again = await runCli([input, '--journal', journal, '-q']);
    expect(again.code).toBe(2);
    expect(errorLine(again.stderr)).toMatch(/line 1 looks ';'-separated; try --delimiter ';'/);
    const badHeader = join(dir, 'bad-header.csv');
    writeFileSync(badHeader, 'type,client,transaction,amount\ndeposit,1,1,10\n');
    const badHeaderJournal = join(dir, 'bad-header');
    const noTx = await runCli([badHeader, '--journal', badHeaderJournal, '-q']);
    expect(noTx.code).toBe(2);
    expect(errorLine(noTx.stderr)).toMatch(/the header has no "tx" column/);
    expect(existsSync(badHeaderJournal)).toBe(false);
    // Blank lines past the first chunk read (512 KiB), then the header: judged all the same.
    const late = join(dir, 'late-header.csv');
    writeFileSync(late, `${'\n'.repeat(600 << 10)}type;client;tx;amount\ndeposit;1;1;10\n`);
    const lateJournal = join(dir, 'late-header');
    const lateRefused = await runCli([late, '--journal', lateJournal, '-q']);
    expect(lateRefused.code).toBe(2);
    expect(errorLine(lateRefused.stderr)).toMatch(/line 614401 looks ';'-separated/);
    expect(existsSync(lateJournal)).toBe(false);
  });

  it('a journal written for another input', async () => {
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'type,client,tx,amount\ndeposit,1,1,1\n');
    const result = await runCli([other, '--journal', join(dir, 'uninterrupted')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/written for a different input/);
  });

  it('a journal from a newer format version', async () => {
    const journal = join(dir, 'newer');
    await finish(journal);
    const manifest = JSON.parse(readFileSync(join(journal, 'manifest.json'), 'utf8'));
    writeFileSync(join(journal, 'manifest.json'), JSON.stringify({ ...manifest, formatVersion: 99 }));
    for (const args of [
      [input, '--journal', journal],
      ['replay', '--journal', journal],
    ]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/written by a newer version/);
    }
  });

  it('standard input', async () => {
    const result = await runCli(['-', '--journal', join(dir, 'stdin')], { stdin: 'deposit,1,1,1\n' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--journal needs an input file/);
  });
});

describe('graceful stop', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s: drains, flushes, says how to resume, exits %d; the resumed run is exact',
    async (signal, exitCode) => {
      const journal = join(dir, `stop-${signal}`);
      // Signal once the run has opened its journal (its handlers are in place by then).
      const stopped = await runAndSignal([input, '--journal', journal], 150, signal, () =>
        existsSync(join(journal, 'partition-0.sqlite')),
      );
      expect(stopped.code).toBe(exitCode);
      expect(stopped.stderr).toMatch(
        new RegExp(
          `stopped by ${signal} after line \\d+: the journal holds every row up to line \\d+; run the same command again to resume`,
        ),
      );
      const resumed = await finish(journal);
      // The stop wrote a whole snapshot (not the accounts alone of a finished run): nothing replayed.
      expect(resumed.stderr).toContain('"recordsReplayed":0');
      expect(resumed.accounts).toBe(reference.accounts);
      expect(resumed.rejects).toBe(reference.rejects);
      expect(resumed.records).toBe(reference.records);
    },
  );
});

describe('a stop while a run re-reads what its journal holds', () => {
  const manifestOf = (journal: string) =>
    JSON.parse(readFileSync(join(journal, 'manifest.json'), 'utf8')) as { committedLine: number; complete: boolean };

  it('of a finished journal: says it holds the whole input, and it stays finished', async () => {
    const journal = join(dir, 'stop-finished');
    await finish(journal);
    const before = manifestOf(journal);
    expect(before.complete).toBe(true);
    // Once the run has said it re-reads a finished journal (its handlers are in place by then).
    const stopped = await runAndSignal([input, '--journal', journal], 50, 'SIGTERM', (stderr) =>
      stderr.includes('its run had finished'),
    );
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr).toMatch(
      /stopped by SIGTERM after line \d+: the journal holds the whole input \(its run had finished\)/,
    );
    expect(manifestOf(journal)).toMatchObject({ complete: true, committedLine: before.committedLine });
    const replayed = await runCli(['replay', '--journal', journal]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(reference.accounts);
    expect(replayed.stderr).not.toMatch(/did not finish/);
  });

  it('of an unfinished one: names the line the journal holds, never less than before', async () => {
    const journal = join(dir, 'stop-twice');
    const first = await runAndSignal([input, '--journal', journal], 150, 'SIGTERM', () =>
      existsSync(join(journal, 'partition-0.sqlite')),
    );
    expect(first.code, first.stderr).toBe(143);
    const held = manifestOf(journal).committedLine;
    expect(held).toBeGreaterThan(0);
    const second = await runAndSignal([input, '--journal', journal], 0, 'SIGTERM', (stderr) =>
      stderr.includes('resuming'),
    );
    expect(second.code, second.stderr).toBe(143);
    const said = Number(/the journal holds every row up to line (\d+)/.exec(second.stderr)?.[1]);
    expect(said).toBeGreaterThanOrEqual(held);
    expect(manifestOf(journal).committedLine).toBe(said);
    const resumed = await finish(journal);
    expect(resumed.accounts).toBe(reference.accounts);
    expect(resumed.rejects).toBe(reference.rejects);
  });
});

describe('shards and signals', () => {
  it('resumes with the shard count the journal was written with, whatever --workers says', async () => {
    const journal = join(dir, 'shards');
    await runAndSignal([input, '--journal', journal, '--workers', '3', '--quiet'], 300, 'SIGKILL', () =>
      existsSync(join(journal, 'partition-2.sqlite')),
    );
    const resumed = await finish(journal, ['--workers', '1']);
    expect(resumed.accounts).toBe(reference.accounts);
    expect(resumed.rejects).toBe(reference.rejects);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).workers).toBe(3);
  });

  it('SIGINT without a journal: exit 130, nothing on stdout, nothing saved', async () => {
    const child = spawn(process.execPath, [binPath, input, '--log-level', 'debug'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // "run started" is logged in the same synchronous step that installs the signal handlers.
      if (!sent && stderr.includes('run started')) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 100);
      }
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /stopped by SIGINT after line \d+: nothing was saved \(run with --journal DIR to make a run resumable\)/,
    );
  });
});

describe('replay and inspect', () => {
  it('of an unfinished run: --as-of-line past what every partition holds is exit 2; up to it, the engine on those lines', async () => {
    const journal = join(dir, 'unfinished-as-of');
    // Killed once both partitions have committed batches (a partition being created is not yet readable).
    const written = (shard: number) => {
      const wal = join(journal, `partition-${shard}.sqlite-wal`);
      return existsSync(wal) && statSync(wal).size > 1 << 16;
    };
    const killed = await runAndSignal(
      [input, '--journal', journal, '--workers', '2', '--quiet'],
      20,
      'SIGKILL',
      () => written(0) && written(1),
    );
    expect(killed.signal, 'the run must be killed mid-run').toBe('SIGKILL');
    const past = await runCli(['replay', '--journal', journal, '--as-of-line', '300001', '-q']);
    expect(past.code).toBe(2);
    expect(past.stdout).toBe('');
    const held = /hold every line only up to line (\d+)/.exec(errorLine(past.stderr));
    expect(held, past.stderr).not.toBeNull();
    const line = Number(held![1]);
    // The engine on the input's first `line` lines gives what the journal says of them.
    const head = join(dir, 'unfinished-head.csv');
    writeFileSync(head, readFileSync(input, 'utf8').split('\n').slice(0, line).join('\n') + '\n');
    const asOf = await runCli(['replay', '--journal', journal, '--as-of-line', String(line), '-q']);
    expect(asOf.code, asOf.stderr).toBe(0);
    expect(asOf.stdout).toBe((await runCli([head, '-q'])).stdout);
  });

  it('replay of the whole journal equals the original output', async () => {
    const replay = await runCli(['replay', '--journal', join(dir, 'uninterrupted')]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toBe(reference.accounts);
  });

  it('replay --as-of-line N equals running the engine on the first N lines', async () => {
    const lines = readFileSync(input, 'utf8').split('\n');
    for (const n of [1, 777, 299_999]) {
      const prefix = join(dir, `prefix-${n}.csv`);
      writeFileSync(prefix, lines.slice(0, n).join('\n') + '\n');
      const engine = await runCli([prefix, '--quiet']);
      const replay = await runCli(['replay', '--journal', join(dir, 'uninterrupted'), '--as-of-line', String(n)]);
      expect(replay.code).toBe(0);
      expect(replay.stdout, `line ${n}`).toBe(engine.stdout);
    }
  });

  it("inspect --client lists that client's records in input order", async () => {
    const result = await runCli(['inspect', '--journal', join(dir, 'uninterrupted'), '--client', '7']);
    expect(result.code).toBe(0);
    const rows = result.stdout.trim().split('\n');
    expect(rows[0]).toBe('partition,seq,line,record,type,client,tx,amount,reason');
    const records = rows.slice(1).map((r) => r.split(','));
    expect(records.length).toBeGreaterThan(10);
    expect(records.every((r) => r[5] === '7')).toBe(true);
    const seqs = records.map((r) => Number(r[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // One record per well-formed row of client 7 in the input.
    const clientRows = readFileSync(input, 'utf8')
      .split('\n')
      .filter((l) => /^\s*(deposit|withdrawal|dispute|resolve|chargeback)\s*,\s*7\s*,/.test(l));
    expect(records.length).toBeLessThanOrEqual(clientRows.length);
    expect(records.length).toBeGreaterThan(clientRows.length * 0.9);
  });
});
