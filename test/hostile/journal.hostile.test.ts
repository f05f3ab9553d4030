/**
 * A journal that cannot lie, and cannot be shared: edited or damaged partitions, bad manifests, two
 * runs on one journal, a full disk, and replay/inspect of a journal killed mid-run. Each answer is
 * exit 2 (or 1 for the full disk) with one line naming the partition, the manifest field or the
 * holder — never exit 0 with wrong balances, never a stack trace.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, expectOneLine, repoRoot, runCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-journal-hostile-'));
const small = join(dir, 'small.csv');
const big = join(dir, 'big.csv');
const reference = { small: '', big: '' };

beforeAll(async () => {
  writeFileSync(small, 'type,client,tx,amount\ndeposit,1,1,5\ndeposit,1,2,7\n');
  const generated = await runCli(['generate', '-n', '300000', '-c', '2000', '--seed', '5', big]);
  expect(generated.code, generated.stderr).toBe(0);
  reference.small = (await runCli([small, '--quiet'])).stdout;
  reference.big = (await runCli([big, '--quiet'])).stdout;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spawnRun(args: string[]) {
  const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** Edits the format version of a 2-partition journal's manifest and of both its partitions. */
function setFormat(journal: string, version: number): void {
  const manifestPath = join(journal, 'manifest.json');
  writeFileSync(
    manifestPath,
    JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), formatVersion: version }),
  );
  for (const shard of [0, 1]) {
    const db = new Database(join(journal, `partition-${shard}.sqlite`));
    db.prepare("UPDATE meta SET value = ? WHERE key = 'format_version'").run(String(version));
    db.close();
  }
}

describe('the journal cannot lie', () => {
  it("a snapshot's line edited through SQLite: exit 2 naming the partition, nothing applied twice", async () => {
    const journal = join(dir, 'snapshot-line');
    expect((await runCli([small, '--journal', journal, '--workers', '1', '--quiet'])).code).toBe(0);
    const db = new Database(join(journal, 'partition-0.sqlite'));
    expect(db.prepare('UPDATE snapshots SET line = 2').run().changes).toBeGreaterThan(0);
    db.close();
    const again = await runCli([small, '--journal', journal, '--workers', '1', '--quiet']);
    expectOneLine(again, 2, /journal partition 0 .*snapshot at seq 2 fails its checksum/);
    expectOneLine(await runCli(['replay', '--journal', journal]), 2, /journal partition 0/);
  });

  it("a snapshot's line and checksum both edited: still caught (the snapshot must end where a batch ends)", async () => {
    const journal = join(dir, 'snapshot-line-crc');
    expect((await runCli([small, '--journal', journal, '--workers', '1', '--quiet'])).code).toBe(0);
    const db = new Database(join(journal, 'partition-0.sqlite'));
    db.prepare('UPDATE snapshots SET line = 2').run();
    db.prepare('DELETE FROM batches WHERE first_seq = 2').run();
    db.close();
    const again = await runCli([small, '--journal', journal, '--workers', '1', '--quiet']);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/journal partition 0/);
  });

  it("a partition's format edited to an older one: exit 2 from every command, its batches never read in another codec", async () => {
    const journal = join(dir, 'format-edited');
    expect((await runCli([big, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    const db = new Database(join(journal, 'partition-1.sqlite'));
    db.prepare("UPDATE meta SET value = '3' WHERE key = 'format_version'").run();
    db.close();
    for (const args of [
      [big, '--journal', journal, '--workers', '2'],
      ['replay', '--journal', journal],
      ['inspect', '--journal', journal], // every record: both partitions
    ])
      expectOneLine(
        await runCli(args),
        2,
        /journal partition 1 .*journal format 3, but its journal's manifest says 5 \(damaged or edited\)/,
      );
  });

  it('a journal whose manifest and partitions were all edited to the older format: exit 2, never a balance', async () => {
    const journal = join(dir, 'format-edited-all');
    expect((await runCli([big, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    setFormat(journal, 3);
    // Compact batches read as columns: the layout does not fit, so the batch is refused. Its
    // checksum holds, so it is no torn write: nothing is deleted.
    for (const args of [
      ['replay', '--journal', journal],
      [big, '--journal', journal, '--workers', '2'],
    ]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /journal partition \d.* (does not decode|holds accounts alone, which journal format 3 never stores)/,
      );
      expect(result.stderr).not.toMatch(/torn/);
    }
    // Put back, the journal is whole: the refusals deleted nothing.
    setFormat(journal, 5);
    const replayed = await runCli(['replay', '--journal', journal, '--quiet']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(reference.big);
    expect(replayed.stderr).toBe(''); // --quiet: warnings and errors only
    const again = await runCli([big, '--journal', journal, '--workers', '2', '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(reference.big);
  });

  it("reseal of a journal whose manifest's format was edited: exit 2, nothing resealed", async () => {
    const journal = join(dir, 'format-edited-reseal');
    expect((await runCli([big, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    const manifestPath = join(journal, 'manifest.json');
    const manifest = readFileSync(manifestPath, 'utf8');
    writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(manifest), formatVersion: 3 }));
    const key = join(dir, 'reseal.key');
    writeFileSync(key, `${'ab'.repeat(32)}\n`);
    expectOneLine(
      await runCli(['reseal', '--journal', journal, '--new-key-file', key]),
      2,
      /journal partition 0 .*journal format 5, but its journal's manifest says 3 \(damaged or edited\)/,
    );
    writeFileSync(manifestPath, manifest);
    const replayed = await runCli(['replay', '--journal', journal, '--quiet']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(reference.big);
  });

  it("a dropped table: exit 2 with SQLite's own words and the partition, not [object Object]", async () => {
    const journal = join(dir, 'dropped');
    expect((await runCli([small, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    const db = new Database(join(journal, 'partition-1.sqlite'));
    db.exec('DROP TABLE snapshots');
    db.close();
    // The run recreates a missing table, then finds the batches without their snapshot: still exact.
    const again = await runCli([small, '--journal', journal, '--workers', '2', '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(reference.small);
    const db2 = new Database(join(journal, 'partition-1.sqlite'));
    db2.exec('DROP TABLE batches');
    db2.close();
    expectOneLine(await runCli(['replay', '--journal', journal]), 2, /journal partition 1 .*no such table: batches/);
  });

  describe('a manifest that does not hold: exit 2 with one line, for run, replay and inspect', () => {
    const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
      ['shards: 1 for a 2-shard journal', (m) => (m.shards = 1), /written with 2 shards, not 1/],
      ['shards: 1000000', (m) => (m.shards = 1000000), /shards must be a whole number from 1 to 64/],
      ['shards: "2"', (m) => (m.shards = '2'), /shards must be a whole number/],
      ['shards: null', (m) => (m.shards = null), /shards must be a whole number/],
      ['shards missing', (m) => delete m.shards, /shards must be a whole number .*got nothing/],
      ['input missing', (m) => delete m.input, /input must be an object/],
      ['committedLine: -1', (m) => (m.committedLine = -1), /committedLine must be/],
      ['complete: "yes"', (m) => (m.complete = 'yes'), /complete must be true or false/],
      ['ends: [-1, 2]', (m) => (m.ends = [-1, 2]), /ends must be a list of whole numbers ≥ 0/],
      ['an array', (m) => Object.assign(m, { __array: true }), /the manifest must be an object/],
    ];
    let journal = '';
    beforeAll(async () => {
      journal = join(dir, 'manifest-source');
      expect((await runCli([small, '--journal', journal, '--workers', '2', '--quiet'])).code).toBe(0);
    });
    for (const [name, edit, pattern] of cases) {
      it(name, async () => {
        const copy = join(dir, `manifest-${name.replace(/\W+/g, '-')}`);
        cpSync(journal, copy, { recursive: true });
        const manifest = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8')) as Record<string, unknown>;
        edit(manifest);
        const text = manifest.__array ? '[1, 2]' : JSON.stringify(manifest);
        writeFileSync(join(copy, 'manifest.json'), text);
        expectOneLine(await runCli([small, '--journal', copy, '--quiet']), 2, pattern);
        expectOneLine(await runCli(['replay', '--journal', copy]), 2, pattern);
        expectOneLine(await runCli(['inspect', '--journal', copy]), 2, pattern);
      });
    }
  });
});

describe('one writer per journal', () => {
  it('a second run on a journal in use exits 2 at once, naming the holder; SIGKILL leaves no stale lock', async () => {
    const journal = join(dir, 'locked');
    const first = spawnRun([big, '--journal', journal, '--quiet']);
    await until(() => existsSync(join(journal, 'manifest.json')), 'the first run to open its journal');
    // Stopped while it holds the lock: a fast run would otherwise finish before the second one
    // asks for it (seen once the engine got faster). SIGKILL ends a stopped process too.
    first.child.kill('SIGSTOP');
    const second = await runCli([big, '--journal', journal, '--quiet']);
    expectOneLine(second, 2, new RegExp(`journal .*locked is in use by pid ${first.child.pid}$`));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const after = await runCli([big, '--journal', journal, '--quiet']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toBe(reference.big);
  });

  it('a run reading the lock file while another starts does not make it look held', async () => {
    // What a second run starting at the same moment does: it reads lock.sqlite (a SHARED lock) for
    // an instant. Held here for longer, so that the first run's commit of its pid meets it.
    const journal = join(dir, 'lock-reader');
    mkdirSync(journal);
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]); db.exec('BEGIN'); db.prepare('SELECT count(*) FROM sqlite_master').get();
         console.log('reading'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 700);`,
        join(journal, 'lock.sqlite'),
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => reader.stdout.once('data', resolve));
    const { JournalLock } = await import('../../src/journal/lock.js');
    const lock = JournalLock.acquire(journal);
    lock.release();
    await new Promise((resolve) => reader.on('close', resolve));
  });

  it('leaves no manifest temp file behind', async () => {
    const journal = join(dir, 'temp-files');
    expect((await runCli([small, '--journal', journal, '--quiet'])).code).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(journal).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('a full disk', () => {
  const mount = join(dir, 'tmpfs');
  let mounted = false;
  let why = '';
  beforeAll(() => {
    mkdirSync(mount, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount], { stdio: 'pipe' });
      mounted = true;
    } catch (error) {
      why = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    }
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [mount]);
  });

  it('is exit 1 with one line saying how far the run got and how to resume, at 1, 2 and 4 workers', async (ctx) => {
    if (!mounted) {
      console.warn(`skipped: cannot mount a 2 MiB tmpfs (${why}); run as root to test a full disk`);
      ctx.skip();
    }
    for (const workers of [1, 2, 2, 4, 2, 4]) {
      const journal = join(mount, `j-${workers}-${Math.random().toString(36).slice(2)}`);
      const result = await runCli([big, '--journal', journal, '--workers', String(workers), '--quiet']);
      expectOneLine(
        result,
        1,
        /^payments: journal .*: disk full \((SQLITE_FULL|ENOSPC)\) after line \d+; free space and run the same command to resume$/,
      );
      rmSync(journal, { recursive: true, force: true });
    }
  });

  it('run again on the still-full disk: the same one line, naming the journal, not SQLite alone', async (ctx) => {
    if (!mounted) ctx.skip();
    const journal = join(mount, 'again');
    const first = await runCli([big, '--journal', journal, '--quiet']);
    expect(first.code, first.stderr).toBe(1);
    const filler = join(mount, 'filler');
    try {
      for (let i = 0; ; i++) writeFileSync(filler, Buffer.alloc(64 << 10), { flag: i === 0 ? 'w' : 'a' });
    } catch {
      // ENOSPC: the disk is full to the last block
    }
    const again = await runCli([big, '--journal', journal, '--quiet']);
    expectOneLine(
      again,
      1,
      /^payments: journal .*again: disk full \((SQLITE_FULL|ENOSPC)\).*; free space and run the same command to resume$/,
    );
    rmSync(filler, { force: true });
    rmSync(journal, { recursive: true, force: true });
  });

  it('too full to create the journal: exit 1, a full disk (not a damaged journal), at 1 and 3 workers', async (ctx) => {
    if (!mounted) ctx.skip();
    const filler = join(mount, 'filler');
    try {
      for (let i = 0; ; i++) writeFileSync(filler, Buffer.alloc(16 << 10), { flag: i === 0 ? 'w' : 'a' });
    } catch {
      // ENOSPC: full to the last block
    }
    try {
      // Room for a directory and a few pages, not for a partition's database, its WAL and shared memory.
      for (const [room, workers] of [
        [40, 1],
        [100, 3],
        [100, 1],
      ] as const) {
        truncateSync(filler, statSync(filler).size - room * 1024);
        const journal = join(mount, `new-${room}-${workers}`);
        const result = await runCli([big, '--journal', journal, '--workers', String(workers), '--quiet']);
        expectOneLine(
          result,
          1,
          /^payments: journal partition \d+ .*: (disk full \(SQLITE_FULL\)|.*\(SQLITE_IOERR\w*\); check the disk \(is it full\?\)).* run the same command to resume$/,
        );
        rmSync(journal, { recursive: true, force: true });
        writeFileSync(filler, Buffer.alloc(0), { flag: 'a' });
        try {
          for (;;) writeFileSync(filler, Buffer.alloc(4 << 10), { flag: 'a' });
        } catch {
          // full again
        }
      }
    } finally {
      rmSync(filler, { force: true });
    }
  });
});

describe('replay and inspect of a journal killed mid-run', () => {
  it('read how far each partition got from the partitions, not from the lagging manifest', async () => {
    const journal = join(dir, 'killed');
    const run = spawnRun([big, '--journal', journal, '--quiet']);
    const wal = join(journal, 'partition-1.sqlite-wal');
    await until(() => existsSync(wal) && statSync(wal).size > 1 << 20, 'the run to commit batches');
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    // What the partitions hold, counted by SQLite itself.
    let held = 0;
    for (const shard of [0, 1]) {
      const db = new Database(join(journal, `partition-${shard}.sqlite`));
      held += (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM batches').get() as { n: number }).n;
      db.close();
    }
    expect(held).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(journal, 'manifest.json'), 'utf8')) as { complete: boolean };
    expect(manifest.complete).toBe(false);
    const replay = await runCli(['replay', '--journal', journal, '--log-level', 'info']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stderr).toContain(`"recordsReplayed":${held}`);
    expect(replay.stdout.split('\n').length).toBeGreaterThan(2);
    const inspect = await runCli(['inspect', '--journal', journal]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout.trim().split('\n')).toHaveLength(held + 1);
  });
});
