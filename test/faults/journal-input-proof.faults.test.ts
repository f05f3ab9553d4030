/**
 * A resumed run over a SQLite journal proves that the input it skips is the input the journal
 * applied (test/helpers/input-proof-cases.ts); plus the inputs and journals that cannot give such a
 * proof: an older format's journal, a pipe, a directory path SQLite cannot open.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorLine, runCli } from '../helpers/cli.js';
import { registerInputProofTests } from '../helpers/input-proof-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-journal-proof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const partitions = (journal: string) =>
  readdirSync(journal)
    .filter((f) => /^partition-\d+\.sqlite$/.test(f))
    .sort()
    .map((f) => join(journal, f));

function withDb<T>(path: string, use: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

registerInputProofTests({
  location: (name) => join(dir, name),
  proofEnds: async (name) =>
    withDb(join(dir, name, 'partition-0.sqlite'), (db) =>
      (db.prepare('SELECT input_end FROM batches ORDER BY first_seq').all() as { input_end: number }[]).map(
        (r) => r.input_end,
      ),
    ),
  truncate: async (name, end) => {
    for (const path of partitions(join(dir, name)))
      withDb(path, (db) => {
        db.prepare('DELETE FROM batches WHERE input_end > ?').run(end);
        db.exec('DELETE FROM snapshot_txs; DELETE FROM snapshots;');
      });
    const manifestPath = join(dir, name, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, complete: false, committedLine: 0 }));
  },
  state: async (name) =>
    JSON.stringify([
      readFileSync(join(dir, name, 'manifest.json'), 'utf8'),
      ...partitions(join(dir, name)).map((path) =>
        withDb(path, (db) => db.prepare('SELECT count(*) AS n, max(first_seq + count - 1) AS seq FROM batches').get()),
      ),
    ]),
});

describe('journals and inputs a resume cannot trust', () => {
  const small = join(dir, 'small.csv');
  writeFileSync(small, 'type,client,tx,amount\ndeposit,1,1,1\ndeposit,2,2,2.5\n');

  it('a journal of the format before input proofs: exit 2, one line saying what to do (run and replay)', async () => {
    const journal = join(dir, 'old-format');
    expect((await runCli([small, '--journal', journal, '--quiet'])).code).toBe(0);
    const manifestPath = join(journal, 'manifest.json');
    writeFileSync(
      manifestPath,
      JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), formatVersion: 2 }),
    );
    for (const path of partitions(journal))
      withDb(path, (db) => db.prepare("UPDATE meta SET value = '2' WHERE key = 'format_version'").run());
    for (const args of [
      [small, '--journal', journal],
      ['replay', '--journal', journal],
    ]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(errorLine(result.stderr)).toMatch(
        /journal format 2, an older version's .*no input checksum.*use the version that wrote it, or a new --journal directory/,
      );
    }
  });

  it('a FIFO input: exit 2 before the journal is created', async () => {
    const fifo = join(dir, 'input.fifo');
    execFileSync('mkfifo', [fifo]);
    const journal = join(dir, 'fifo');
    // Should the run open the pipe, a writer feeds it (never blocking: it polls until the run ends).
    let running = true;
    const writer = (async () => {
      while (running) {
        try {
          const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
          writeSync(fd, 'type,client,tx,amount\ndeposit,1,1,1\n');
          closeSync(fd);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50)); // ENXIO: nobody reads it yet
        }
      }
    })();
    const result = await runCli([fifo, '--journal', journal]);
    running = false;
    await writer;
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toMatch(/is a pipe \(FIFO\), which cannot be read again to resume/);
    expect(existsSync(journal)).toBe(false);
  });

  it('a journal directory whose files SQLite cannot open (path too long): exit 2 saying so', async () => {
    // Nested, as no single name may pass 255 bytes: the directory's full path is then over 484 bytes.
    let parent = dir;
    while (parent.length < 460) parent = join(parent, 'd'.repeat(60));
    mkdirSync(parent, { recursive: true });
    const fits = join(parent, 'j'.repeat(484 - parent.length - 1));
    const tooLong = `${fits}j`;
    expect((await runCli([small, '--journal', fits, '--quiet'])).code).toBe(0);
    const result = await runCli([small, '--journal', tooLong]);
    expect(result.code, result.stderr).toBe(2);
    expect(errorLine(result.stderr)).toMatch(
      /path too long: SQLite opens files whose full path is at most 504 bytes, so the journal directory's full path \(symbolic links resolved\) may be at most 484 bytes \(this one is 485\)/,
    );
    expect(existsSync(tooLong)).toBe(false);
    // A short name for a long directory is no shorter to SQLite, which resolves the link.
    const link = join(dir, 'short-link');
    symlinkSync(parent, link);
    const linked = await runCli([small, '--journal', join(link, 'j'.repeat(484 - parent.length))]);
    expect(linked.code, linked.stderr).toBe(2);
    expect(errorLine(linked.stderr)).toMatch(/path too long: .*\(this one is 485\)/);
  });
});
