/**
 * Sealed journals (--journal-key-file), through the CLI as a user runs it, on both backends (a
 * SQLite directory and PostgreSQL): a sealed run and its resume after SIGKILL give the uninterrupted
 * output; replay (whole and --as-of-line) and inspect read it with the key; no key, another key, a
 * flipped byte or a unit failing authentication are exit 2 in one line naming the journal and the
 * key id; the key is never in stdout, stderr, the report, the journal or the process's argv and
 * environment; reseal rotates the key and refuses a damaged journal, leaving it as it was.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionPath } from '../../src/journal/format.js';
import { storedBatch, storedColumns } from '../../src/journal/postgres/partition-read.js';
import { batchChecksum, type StoredBatch } from '../../src/journal/record-codec.js';
import { binPath, errorLine, expectOneLine, repoRoot, runCli } from '../helpers/cli.js';
import { PostgresCliFixture, runAndSignal } from '../helpers/postgres-cli.js';
import { until, urlFor } from '../helpers/postgres.js';
import pg from 'pg';

const f = new PostgresCliFixture();
const keyHex = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
const keyFile = (i: number) => join(f.dir, `key-${i}`);
const keyId = (i: number) =>
  // The first 8 bytes of SHA-256 of the key (seal.ts), computed here independently.
  createHash('sha256').update(Buffer.from(keyHex[i]!, 'hex')).digest('hex').slice(0, 16);
const withKey = (i = 0) => ['--journal-key-file', keyFile(i)];

/** Tests that run the CLI a dozen times: more than the default on a shared 2-core machine. */
const heavyTestMs = 180_000;

beforeAll(async () => {
  await f.setUp('seal', 100_000);
  keyHex.forEach((hex, i) => writeFileSync(keyFile(i), `${hex}\n`));
});
afterAll(() => f.tearDown());

interface SealBackend {
  readonly name: string;
  location(journal: string): string;
  underWay(journal: string): () => Promise<boolean>;
  /** Flips one byte of partition 1's first batch; with `fixCrc` its checksum is made to match again. */
  flipBatchByte(journal: string, fixCrc: boolean): Promise<void>;
  /** Every byte the journal stores, as one buffer. */
  storedBytes(journal: string): Promise<Buffer>;
  /** What the journal holds (rows, not files: opening a SQLite file may rewrite its index). */
  contents(journal: string): Promise<string>;
  /** Removes the snapshots: every command then reads every batch. */
  dropSnapshots(journal: string): Promise<void>;
}

function sqliteRows(journal: string, sql: string[]): string {
  const dir = join(f.dir, journal);
  const out: unknown[] = [readFileSync(join(dir, 'manifest.json'), 'utf8')];
  for (const name of readdirSync(dir).filter((n) => /^partition-\d+\.sqlite$/.test(n))) {
    const db = new Database(join(dir, name));
    try {
      for (const q of sql) out.push(db.prepare(q).all());
    } finally {
      db.close();
    }
  }
  return JSON.stringify(out);
}

const sqlite: SealBackend = {
  name: 'SQLite',
  location: (journal) => join(f.dir, journal),
  underWay: (journal) => async () => {
    const wal = `${partitionPath(join(f.dir, journal), 0)}-wal`;
    return existsSync(wal) && statSync(wal).size > 64 << 10;
  },
  flipBatchByte: async (journal, fixCrc) => {
    const db = new Database(partitionPath(join(f.dir, journal), 1));
    try {
      const b = db.prepare('SELECT * FROM batches WHERE first_seq = 1').get() as StoredBatch;
      const data = Buffer.from(b.data);
      data[40]! ^= 0x10;
      const crc = fixCrc ? batchChecksum({ ...b, data }) : b.crc;
      db.prepare('UPDATE batches SET data = ?, crc = ? WHERE first_seq = 1').run(data, crc);
    } finally {
      db.close();
    }
  },
  storedBytes: async (journal) => {
    const dir = join(f.dir, journal);
    return Buffer.concat(readdirSync(dir).map((name) => readFileSync(join(dir, name))));
  },
  contents: async (journal) =>
    sqliteRows(
      journal,
      [
        'meta ORDER BY key',
        'batches ORDER BY first_seq',
        'snapshots ORDER BY seq',
        'snapshot_txs ORDER BY seq, part',
      ].map((t) => `SELECT * FROM ${t}`),
    ),
  dropSnapshots: async (journal) => {
    sqliteRows(journal, ['DELETE FROM snapshot_txs RETURNING seq', 'DELETE FROM snapshots RETURNING seq']);
  },
};

const postgres: SealBackend = {
  name: 'PostgreSQL',
  location: (journal) => f.url(journal),
  underWay: (journal) => f.underWay(journal),
  flipBatchByte: async (journal, fixCrc) => {
    const [row] = await f.query(
      `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND partition = 1 AND first_seq = 1`,
      [journal],
    );
    const b = storedBatch(row!) as StoredBatch;
    const data = Buffer.from(b.data);
    data[40]! ^= 0x10;
    const crc = fixCrc ? batchChecksum({ ...b, data }) : b.crc;
    await f.query(
      'UPDATE payments.batches SET data = $2, crc = $3 WHERE journal = $1 AND partition = 1 AND first_seq = 1',
      [journal, data, crc],
    );
  },
  storedBytes: async (journal) => {
    const units = await f.query<{ b: Buffer }>(
      `SELECT data AS b FROM payments.batches WHERE journal = $1
       UNION ALL SELECT accounts FROM payments.snapshots WHERE journal = $1
       UNION ALL SELECT data FROM payments.snapshot_parts WHERE journal = $1
       UNION ALL SELECT convert_to(row_to_json(j)::text, 'UTF8') FROM payments.journals j WHERE name = $1`,
      [journal],
    );
    return Buffer.concat(units.map((u) => u.b));
  },
  contents: async (journal) =>
    JSON.stringify(
      await f.query(
        `SELECT (SELECT json_agg(b ORDER BY partition, first_seq) FROM payments.batches b WHERE journal = $1) AS b,
           (SELECT json_agg(s ORDER BY partition, seq) FROM payments.snapshots s WHERE journal = $1) AS s,
           (SELECT json_agg(p ORDER BY partition, seq, part) FROM payments.snapshot_parts p WHERE journal = $1) AS p,
           (SELECT row_to_json(j) FROM payments.journals j WHERE name = $1) AS j`,
        [journal],
      ),
    ),
  dropSnapshots: async (journal) => {
    await f.query('DELETE FROM payments.snapshot_parts WHERE journal = $1', [journal]);
    await f.query('DELETE FROM payments.snapshots WHERE journal = $1', [journal]);
  },
};

/** The key appears nowhere in `text`, as hex (either case) or as its bytes. */
function expectNoKey(bytes: Buffer | string): void {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  for (const hex of keyHex) {
    expect(buffer.includes(Buffer.from(hex, 'hex'))).toBe(false);
    expect(buffer.toString('latin1').toLowerCase().includes(hex)).toBe(false);
  }
}

describe.each([sqlite, postgres])('a sealed journal: $name', (b) => {
  it(
    'runs sealed, resumes after SIGKILL with the key, and never shows or stores the key',
    async () => {
      const journal = `sealed-${b.name}`;
      const args = [f.input, '--journal', b.location(journal), ...withKey(0), '--quiet'];
      const killed = await runAndSignal(args, 50, 'SIGKILL', b.underWay(journal));
      const done = await f.finish(b.location(journal), withKey(0));
      f.expectReference(done);
      expect(killed.signal, 'the run must be killed mid-run').toBe('SIGKILL');
      expect(done.stderr).toMatch(/resuming/); // really resumed: the sealed units were read back with the key
      expectNoKey(killed.stderr + done.stderr + done.accounts + readFileSync(join(f.dir, 'report.json'), 'utf8'));
      expectNoKey(await b.storedBytes(journal));
      // A sealed journal is not readable as a plain one: no batch holds the records in the clear.
      const replay = await runCli(['replay', '--journal', b.location(journal), ...withKey(0)]);
      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout).toBe(f.reference.accounts);
      expectNoKey(replay.stderr);
    },
    heavyTestMs,
  );

  it(
    'replays --as-of-line and inspects as the same journal unsealed does',
    async () => {
      const sealed = `asof-${b.name}`;
      const plain = `plain-${b.name}`;
      await f.finish(b.location(sealed), withKey(1));
      await f.finish(b.location(plain));
      for (const line of ['1', '5000', '77777']) {
        const a = await runCli(['replay', '--journal', b.location(sealed), '--as-of-line', line, ...withKey(1)]);
        const p = await runCli(['replay', '--journal', b.location(plain), '--as-of-line', line]);
        expect(a.code, a.stderr).toBe(0);
        expect(a.stdout).toBe(p.stdout);
      }
      const si = await runCli(['inspect', '--journal', b.location(sealed), '--client', '17'], {
        env: { PAYMENTS_JOURNAL_KEY_FILE: keyFile(1) },
      });
      const pi = await runCli(['inspect', '--journal', b.location(plain), '--client', '17']);
      expect(si.code, si.stderr).toBe(0);
      expect(si.stdout).toBe(pi.stdout);
      expect(si.stdout.split('\n').length).toBeGreaterThan(5);
    },
    heavyTestMs,
  );

  it(
    'refuses no key, another key, and an unsealed journal given a key: exit 2, one line, the key id',
    async () => {
      const journal = `refusals-${b.name}`;
      await f.finish(b.location(journal), withKey(0));
      const id = keyId(0);
      for (const args of [[f.input], ['replay'], ['inspect']]) {
        const none = await runCli([...args, '--journal', b.location(journal)]);
        expectOneLine(
          none,
          2,
          new RegExp(`journal .*${journal}.*: is sealed \\(encrypted at rest\\) with key id ${id}`),
        );
        const other = await runCli([...args, '--journal', b.location(journal), ...withKey(1)]);
        expectOneLine(
          other,
          2,
          new RegExp(`is sealed with key id ${id}, and none of the keys given has it \\(key ids ${keyId(1)}\\)`),
        );
        expect(none.stdout + other.stdout).toBe('');
      }
      // Several keys: the journal's is found among them (a comma list, or repeated).
      const both = await runCli([
        'replay',
        '--journal',
        b.location(journal),
        '--journal-key-file',
        `${keyFile(1)},${keyFile(0)}`,
      ]);
      expect(both.stdout).toBe(f.reference.accounts);
      const plain = await runCli([f.input, '--journal', b.location('uninterrupted-plain'), '--quiet']);
      expect(plain.code).toBe(0);
      const keyed = await runCli([f.input, '--journal', b.location('uninterrupted-plain'), ...withKey(0)]);
      expectOneLine(keyed, 2, /is not sealed, and a run must not seal only part of it/);
    },
    heavyTestMs,
  );

  it(
    'refuses a flipped byte (checksum) and a unit failing authentication (checksum fixed): exit 2',
    async () => {
      const journal = `flipped-${b.name}`;
      await f.finish(b.location(journal), withKey(0));
      await b.dropSnapshots(journal);
      await b.flipBatchByte(journal, false);
      expectOneLine(await runCli([f.input, '--journal', b.location(journal), ...withKey(0)]), 2, /fails its checksum/);
      await b.flipBatchByte(journal, true); // flipped back, checksum as stored
      await b.flipBatchByte(journal, true); // flipped again, checksum made to match
      for (const args of [[f.input], ['replay'], ['inspect']]) {
        const result = await runCli([...args, '--journal', b.location(journal), ...withKey(0)]);
        expectOneLine(
          result,
          2,
          new RegExp(`partition 1.*the journal batch at seq 1 .*fails authentication under key id ${keyId(0)}`),
        );
        expect(errorLine(result.stderr)).toContain(journal);
        // inspect streams partition 0 before it reaches the damaged batch; the others print nothing.
        if (args[0] !== 'inspect') expect(result.stdout).toBe('');
      }
    },
    heavyTestMs,
  );

  it(
    'reseals under a new key; refuses a damaged journal and leaves it as it was',
    async () => {
      const journal = `reseal-${b.name}`;
      await f.finish(b.location(journal), withKey(0));
      const rotated = await runCli([
        'reseal',
        '--journal',
        b.location(journal),
        ...withKey(0),
        '--new-key-file',
        keyFile(1),
      ]);
      expect(rotated.code, rotated.stderr).toBe(0);
      expect(rotated.stderr).toContain(`sealed with key id ${keyId(1)} (was key id ${keyId(0)})`);
      expect((await runCli(['replay', '--journal', b.location(journal), ...withKey(1)])).stdout).toBe(
        f.reference.accounts,
      );
      expectOneLine(await runCli(['replay', '--journal', b.location(journal), ...withKey(0)]), 2, new RegExp(keyId(1)));
      // Damaged: refused whole, nothing rewritten (a stored byte is a byte of the old seal).
      await b.flipBatchByte(journal, true);
      const before = await b.contents(journal);
      const refused = await runCli([
        'reseal',
        '--journal',
        b.location(journal),
        ...withKey(1),
        '--new-key-file',
        keyFile(0),
      ]);
      expectOneLine(refused, 2, /fails authentication under key id/);
      expect(await b.contents(journal)).toBe(before);
      // Both reseals are in the audit log of a PostgreSQL journal's database: done, then refused.
      if (b.location(journal).startsWith('postgres')) {
        const audit = await runCli(['audit', '--journal', b.location(journal), '--action', 'reseal', '--json']);
        expect(audit.code, audit.stderr).toBe(0);
        const mine = audit.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { phase: string; args: string[]; exitCode?: number })
          .filter((r) => r.args.some((a) => a.includes(journal)));
        expect(mine.map((r) => r.phase)).toEqual(['started', 'ok', 'started', 'failed']);
        expect(mine[3]!.exitCode).toBe(2);
      }
    },
    heavyTestMs,
  );

  it(
    'seals a plain journal whole with reseal (no old key); it then needs its key',
    async () => {
      // A plain journal is sealed whole by reseal, with no old key, and then needs its key.
      const plain = `reseal-plain-${b.name}`;
      await f.finish(b.location(plain));
      expect((await runCli(['reseal', '--journal', b.location(plain), '--new-key-file', keyFile(0)])).code).toBe(0);
      f.expectReference(await f.finish(b.location(plain), withKey(0)));
      expectOneLine(await runCli(['replay', '--journal', b.location(plain)]), 2, new RegExp(keyId(0)));
    },
    heavyTestMs,
  );
});

describe('the key never in a process’s argv or environment, and key files refused in one line', () => {
  it(
    'a sealed run whose key file comes from the environment: only the path is in argv and environ',
    async () => {
      // Every commit waits on this lock: the run is alive, workers open, while its /proc is read.
      const holder = new pg.Client({ connectionString: urlFor(f.database) });
      await holder.connect();
      try {
        await f.finish(f.url('argv-created')); // the schema exists before the lock is taken
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
        const child = spawn(process.execPath, [binPath, f.input, '--journal', f.url('argv'), '--quiet'], {
          cwd: repoRoot,
          env: { ...process.env, PAYMENTS_JOURNAL_KEY_FILE: keyFile(0) },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        const closed = new Promise((resolve) => child.on('close', resolve));
        await until(
          async () =>
            (
              await f.query<{ n: number }>(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO payments.batches%'",
              )
            )[0]!.n > 0,
        );
        expect(child.exitCode).toBe(null);
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`);
        const environ = readFileSync(`/proc/${child.pid}/environ`);
        expectNoKey(cmdline);
        expectNoKey(environ);
        expect(environ.toString()).toContain(`PAYMENTS_JOURNAL_KEY_FILE=${keyFile(0)}`);
        await holder.query('COMMIT');
        await closed;
        expect(child.exitCode).toBe(0);
      } finally {
        await holder.end();
      }
    },
    heavyTestMs,
  );

  it('refuses a key file that is not a key, naming the file and never its content', async () => {
    const bad = join(f.dir, 'bad-key');
    writeFileSync(bad, `${keyHex[0]!.slice(0, 40)}\n`);
    const result = await runCli([f.input, '--journal', f.url('bad-key'), '--journal-key-file', bad]);
    expectOneLine(result, 2, new RegExp(`--journal-key-file ${bad}: holds 40 hex digits, not 64`));
    expect(result.stderr).not.toContain(keyHex[0]!.slice(0, 40));
    const missing = await runCli(['replay', '--journal', f.url('bad-key'), '--journal-key-file', join(f.dir, 'nope')]);
    expectOneLine(missing, 2, /nope: cannot read the key file/);
    const noJournal = await runCli([f.input, ...withKey(0)]);
    expectOneLine(noJournal, 2, /--journal-key-file seals a journal: it needs --journal/);
  });

  it('SQL cannot decode a sealed journal: payments.events says so, naming the key id', async () => {
    await f.finish(f.url('sql-sealed'), withKey(0));
    const error = await f.query("SELECT count(*) FROM payments.events WHERE journal = 'sql-sealed'").then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toBe(
      `payments.batch_records: this batch is sealed (encrypted at rest, key id ${keyId(0)}); SQL cannot decode it: read the journal with payments inspect --journal URL --journal-key-file FILE`,
    );
    // A journal that is not sealed still reads in SQL.
    const [rows] = await f.query<{ n: string }>(
      "SELECT count(*) AS n FROM payments.events WHERE journal = 'uninterrupted'",
    );
    expect(Number(rows!.n)).toBe(f.reference.records);
  });
});
