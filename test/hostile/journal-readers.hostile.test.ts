/**
 * Readers only read. `replay` and `inspect` of a journal directory change no byte and no mtime of
 * any of its files and create none (no -wal, no -shm, no manifest temp file), on a writable
 * directory and on a read-only mount (an auditor's copy); a journal whose run was killed (its
 * write-ahead log and index left beside the partitions, or the log alone in a copy) is read whole,
 * never the database file without its log.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunError } from '../../src/errors.js';
import { journalFormatVersion } from '../../src/journal/format.js';
import { openPartition } from '../../src/journal/sqlite/reader.js';
import { readTail } from '../../src/journal/sqlite/recovery.js';
import { binPath, repoRoot, runCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-journal-readers-'));
const input = join(dir, 'input.csv');
/** Journals as their runs left them: never read in place except by the test's subject. */
const originals = join(dir, 'originals');
const finished = join(originals, 'finished');
const killed = join(originals, 'killed');
let reference = '';
/** Records the killed journal's partitions hold, counted by SQLite itself on a scratch copy. */
let held = 0;

function spawnRun(args: string[]) {
  const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: 'ignore' });
  const done = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  return { child, done };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** Every file of a journal: name → size, mtime and content hash. */
function stateOf(journal: string): Record<string, string> {
  const state: Record<string, string> = {};
  for (const name of readdirSync(journal).sort()) {
    const path = join(journal, name);
    const info = statSync(path);
    const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
    state[name] = `${info.size} ${info.mtimeMs} ${hash}`;
  }
  return state;
}

function countHeld(journal: string): number {
  const scratch = mkdtempSync(join(dir, 'count-'));
  cpSync(journal, scratch, { recursive: true });
  let n = 0;
  for (const name of readdirSync(scratch).filter((f) => /^partition-\d+\.sqlite$/.test(f))) {
    const db = new Database(join(scratch, name));
    n += (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM batches').get() as { n: number }).n;
    db.close();
  }
  rmSync(scratch, { recursive: true, force: true });
  return n;
}

beforeAll(async () => {
  const generated = await runCli(['generate', '-n', '300000', '-c', '2000', '--seed', '8', input]);
  expect(generated.code, generated.stderr).toBe(0);
  reference = (await runCli([input, '--quiet'])).stdout;
  mkdirSync(originals);
  expect((await runCli([input, '--journal', finished, '--quiet'])).code).toBe(0);
  const run = spawnRun([input, '--journal', killed, '--quiet']);
  const wal = join(killed, 'partition-1.sqlite-wal');
  await until(() => existsSync(wal) && statSync(wal).size > 1 << 20, 'the run to commit batches');
  run.child.kill('SIGKILL');
  expect(await run.done).toBe('SIGKILL');
  expect(readdirSync(killed).filter((f) => f.endsWith('-wal') || f.endsWith('-shm')).length).toBeGreaterThan(0);
  held = countHeld(killed);
  expect(held).toBeGreaterThan(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of journal `from` at `to`; `dropIndex` leaves the -shm files out (a log without its index). */
function copyJournal(from: string, to: string, dropIndex = false): string {
  cpSync(from, to, { recursive: true, preserveTimestamps: true });
  if (dropIndex) for (const f of readdirSync(to).filter((n) => n.endsWith('-shm'))) rmSync(join(to, f));
  return to;
}

/** replay (whole, with its log line), replay --as-of-line, inspect and inspect --client of `journal`. */
async function readAll(journal: string): Promise<{ replay: CliResult; inspect: CliResult }> {
  const replay = await runCli(['replay', '--journal', journal, '--log-level', 'info']);
  expect(replay.code, replay.stderr).toBe(0);
  const asOf = await runCli(['replay', '--journal', journal, '--as-of-line', '1000']);
  expect(asOf.code, asOf.stderr).toBe(0);
  const client = await runCli(['inspect', '--journal', journal, '--client', '7']);
  expect(client.code, client.stderr).toBe(0);
  const inspect = await runCli(['inspect', '--journal', journal]);
  expect(inspect.code, inspect.stderr).toBe(0);
  return { replay, inspect };
}

async function expectFinishedRead(journal: string): Promise<void> {
  const { replay, inspect } = await readAll(journal);
  expect(replay.stdout).toBe(reference);
  expect(inspect.stdout.trim().split('\n').length).toBeGreaterThan(300_000 / 2);
}

async function expectKilledRead(journal: string): Promise<void> {
  const { replay, inspect } = await readAll(journal);
  expect(replay.stderr).toContain(`"recordsReplayed":${held}`);
  expect(inspect.stdout.trim().split('\n')).toHaveLength(held + 1);
}

describe('on a writable directory: not a byte, not an mtime, not a file', () => {
  it('a finished journal', async () => {
    const journal = copyJournal(finished, join(dir, 'w-finished'));
    const before = stateOf(journal);
    await expectFinishedRead(journal);
    expect(stateOf(journal)).toEqual(before);
  });

  it('a killed journal (log and index left): every record it holds, the log left as it was', async () => {
    const journal = copyJournal(killed, join(dir, 'w-killed'));
    const before = stateOf(journal);
    await expectKilledRead(journal);
    const after = stateOf(journal);
    // The -shm file is SQLite's shared-memory index (lock and scratch space, not journal data):
    // a reader beside a possible writer goes through it. Everything else is untouched.
    const data = (state: Record<string, string>) =>
      Object.fromEntries(Object.entries(state).filter(([name]) => !name.endsWith('-shm')));
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(data(after)).toEqual(data(before));
  });

  it('a killed journal copied without its index (-shm): every record, read from a private copy', async () => {
    const journal = copyJournal(killed, join(dir, 'w-log-only'), true);
    const before = stateOf(journal);
    await expectKilledRead(journal);
    expect(stateOf(journal)).toEqual(before);
  });
});

describe('on a read-only mount', () => {
  const source = join(dir, 'ro-source');
  const mount = join(dir, 'ro');
  let mounted = false;
  let why = '';
  beforeAll(() => {
    mkdirSync(source);
    mkdirSync(mount);
    copyJournal(finished, join(source, 'finished'));
    copyJournal(killed, join(source, 'killed'));
    copyJournal(killed, join(source, 'log-only'), true);
    try {
      execFileSync('mount', ['--bind', source, mount], { stdio: 'pipe' });
      mounted = true;
      execFileSync('mount', ['-o', 'remount,ro,bind', mount], { stdio: 'pipe' });
    } catch (error) {
      why = String((error as { stderr?: Buffer }).stderr ?? error).trim();
      return;
    }
    try {
      writeFileSync(join(mount, 'probe'), '');
      rmSync(join(source, 'probe'));
      why = 'the remount left it writable';
    } catch {
      // read-only, as it should be
    }
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [mount]);
  });

  for (const [name, expectRead] of [
    ['finished', expectFinishedRead],
    ['killed', expectKilledRead],
    ['log-only', expectKilledRead],
  ] as const) {
    it(`a ${name} journal is read whole`, async (ctx) => {
      if (!mounted || why !== '') {
        console.warn(`skipped: cannot mount read-only (${why}); run as root to test a read-only journal`);
        ctx.skip();
      }
      const before = stateOf(join(source, name));
      await expectRead(join(mount, name));
      expect(stateOf(join(source, name))).toEqual(before);
    });
  }
});

describe('a journal written while it is read', () => {
  it('fails the read (exit 1) rather than mix two states', () => {
    const journal = copyJournal(finished, join(dir, 'changing'));
    const reader = openPartition(journal, 0, { shards: 2, formatVersion: journalFormatVersion });
    try {
      expect([...readTail(reader.db, reader.where, 0, Number.POSITIVE_INFINITY, reader)].length).toBeGreaterThan(0);
      reader.check(); // unchanged so far
      // What a checkpoint by a run starting meanwhile does to the file: a new mtime.
      const later = new Date(statSync(join(journal, 'partition-0.sqlite')).mtimeMs + 5_000);
      utimesSync(join(journal, 'partition-0.sqlite'), later, later);
      let error: unknown;
      try {
        reader.check();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RunError);
      expect((error as RunError).exitCode).toBe(1);
      expect((error as Error).message).toMatch(/partition 0 .*written by a run while it was being read/);
    } finally {
      reader.close();
    }
  });
});

describe("a finished journal's partition file replaced", () => {
  const refused = async (journal: string) => {
    for (const args of [['replay'], ['inspect'], ['inspect', '--client', '7']]) {
      const read = await runCli([...args, '--journal', journal, '--quiet']);
      expect(read.code, read.stderr).toBe(2);
      expect(read.stdout).toBe('');
      expect(read.stderr).toMatch(
        /partition 0 .*holds \d+ records, but the journal finished with \d+ in it: the file is not the one this journal finished with/,
      );
    }
  };

  it('by an older copy (a run killed part-way): refused (exit 2), never replayed as the finished state', async () => {
    const journal = copyJournal(finished, join(dir, 'stale'));
    for (const name of readdirSync(journal).filter((n) => n.startsWith('partition-0.sqlite')))
      rmSync(join(journal, name));
    for (const name of readdirSync(killed).filter((n) => n.startsWith('partition-0.sqlite')))
      cpSync(join(killed, name), join(journal, name));
    await refused(journal);
  });

  it("by another journal's, of another input with as many records: refused (exit 2), the input proofs disagree", async () => {
    // The same rows but for their amounts' digits (1 and 2 swapped: the same length, so the same
    // chunks): every partition holds as many records as this input's, and batches end at the same bytes.
    const other = join(dir, 'other-input.csv');
    const swapped = (amount: string) => amount.replace(/[12]/g, (d) => (d === '1' ? '2' : '1'));
    writeFileSync(
      other,
      readFileSync(input, 'utf8').replace(
        /^([^,\n]*,[^,\n]*,[^,\n]*,)(.*)$/gm,
        (_, head: string, amount: string) => head + swapped(amount),
      ),
    );
    const mine = join(dir, 'two-a');
    const theirs = join(dir, 'two-b');
    expect((await runCli([input, '-w', '2', '--journal', mine, '--quiet'])).code).toBe(0);
    expect((await runCli([other, '-w', '2', '--journal', theirs, '--quiet'])).code).toBe(0);
    const ends = (journal: string) => JSON.parse(readFileSync(join(journal, 'manifest.json'), 'utf8')).ends;
    expect(ends(theirs)).toEqual(ends(mine));
    for (const name of readdirSync(mine).filter((n) => n.startsWith('partition-1.sqlite'))) rmSync(join(mine, name));
    for (const name of readdirSync(theirs).filter((n) => n.startsWith('partition-1.sqlite')))
      cpSync(join(theirs, name), join(mine, name));
    for (const args of [['replay'], ['inspect'], ['inspect', '--client', '7']]) {
      const read = await runCli([...args, '--journal', mine, '--quiet']);
      expect(read.code, read.stderr).toBe(2);
      expect(read.stdout).toBe('');
      expect(read.stderr).toMatch(/partition 1 .*its proof of the input's first \d+ bytes differs from partition 0's/);
    }
  });

  it('emptied: refused (exit 2); the same run again puts it back', async () => {
    const journal = copyJournal(finished, join(dir, 'emptied'));
    const db = new Database(join(journal, 'partition-0.sqlite'));
    db.exec('DELETE FROM snapshots; DELETE FROM batches');
    db.close();
    await refused(journal);
    const again = await runCli([input, '--journal', journal, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(reference);
    expect((await runCli(['replay', '--journal', journal, '--quiet'])).stdout).toBe(reference);
  });
});
