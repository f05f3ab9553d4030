/**
 * The PostgreSQL journal's storage layer in-process, against a real server (never a mock), for
 * what only PostgreSQL has (the journal contract itself is tested once per backend in
 * postgres-journal-contract.int.test.ts): the auditor's view, reads as of a line, replay and
 * inspect, read-ahead windows, a connection cut during a COPY and a server restart survived, and
 * the refusals (newer schema, wrong password, a role without rights, another input, a record
 * deleted, a busy partition) are exit 2 with one line that never holds the password.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountEvent } from '../../src/domain/account.js';
import { RunError } from '../../src/errors.js';
import type { JournalRecord, Recovery, RowRef } from '../../src/engine/journal-port.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { inspectPostgres, replayPostgres } from '../../src/journal/postgres/run.js';
import { currentVersion, migrate, schemaVersion } from '../../src/journal/postgres/schema.js';
import { ensureClusterSchema } from '../../src/cluster/schema.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { storedBatch, storedColumns } from '../../src/journal/postgres/partition-read.js';
import { batchChecksum, type StoredBatch } from '../../src/journal/record-codec.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { restartServer, startServer, stopServer } from '../../scripts/test-postgres.mjs';
import { freshDatabase, terminateBackends, until, urlFor, withAdmin } from '../helpers/postgres.js';

const input = { name: 'input.csv', size: 1234, headCrc: 1, tailCrc: 2 };
let database: string;

beforeAll(async () => {
  database = await freshDatabase('storage');
});

function target(journal: string, params: Record<string, string> = {}, db = database) {
  return parsePostgresUrl(urlFor(db, { params: { journal, ...params } }));
}

/** Line L: a deposit of L units by client L % 7 with tx L, or (every 5th line) a rejected withdrawal. */
function record(p: PostgresPartition, line: number): void {
  const row: RowRef = { line, typeCode: line % 5 === 0 ? 1 : 0, client: line % 7, tx: line, amount: line * 100 };
  if (line % 5 === 0) p.recordRejection(7, row);
  else p.recordEvent({ type: 'Deposited', client: row.client, tx: line, amount: row.amount } as AccountEvent, row);
}

async function writeLines(p: PostgresPartition, from: number, to: number, perBatch: number): Promise<void> {
  for (let line = from; line <= to; line++) {
    record(p, line);
    if ((line - from + 1) % perBatch === 0 || line === to) await p.commit();
  }
}

async function all(tail: Recovery['tail']): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of tail as AsyncIterable<JournalRecord>) out.push(r);
  return out;
}

async function openJournal(journal: string, shards = 1, params: Record<string, string> = {}, db = database) {
  const store = new PostgresJournalStore(target(journal, params, db));
  const opened = await store.openRun(input, shards);
  await store.close();
  return opened;
}

async function openPartition(
  journal: string,
  shard = 0,
  shards = 1,
  params: Record<string, string> = {},
  db = database,
) {
  const p = new PostgresPartition(target(journal, params, db), shard, shards);
  return { p, recovery: await p.recover() };
}

async function count(sql: string, params: unknown[] = [], db = database): Promise<number> {
  return withAdmin(async (c) => Number((await c.query(sql, params)).rows[0].n), db);
}

async function expectGapless(journal: string, lines: number, db = database) {
  const n = await count(
    'SELECT count(*) AS n FROM payments.events WHERE journal = $1 AND seq BETWEEN 1 AND $2 AND seq = line',
    [journal, lines],
    db,
  );
  expect(n).toBe(lines);
  expect(await count('SELECT count(*) AS n FROM payments.events WHERE journal = $1', [journal], db)).toBe(lines);
}

async function refusalOf(promise: Promise<unknown>): Promise<RunError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunError);
  return error as RunError;
}

describe('a partition', () => {
  it('says a journal is resumed, and shows its records by name and units in payments.events', async () => {
    const { manifest, resumed } = await openJournal('roundtrip');
    expect(resumed).toBe(false);
    expect(manifest.shards).toBe(1);
    const { p } = await openPartition('roundtrip');
    await writeLines(p, 1, 20, 10);
    await p.close();
    expect((await openJournal('roundtrip')).resumed).toBe(true);
    // An auditor's view: names and amounts in units.
    const view = await withAdmin(
      (c) =>
        c.query(
          "SELECT record, type, amount::text, reason FROM payments.events WHERE journal = 'roundtrip' AND line IN (10, 11) ORDER BY line",
        ),
      database,
    );
    expect(view.rows).toEqual([
      { record: 'Rejected', type: 'withdrawal', amount: '0.1000', reason: 'insufficient_funds' },
      { record: 'Deposited', type: 'deposit', amount: '0.1100', reason: null },
    ]);
  });

  it('answers recorded outcomes range after range, across read-ahead windows, each line once', async () => {
    await openJournal('outcomes');
    const { p } = await openPartition('outcomes');
    await writeLines(p, 1, 80_000, 8_000); // more than one read-ahead window (65,536 records)
    await p.close();
    const { p: again } = await openPartition('outcomes');
    const lines: number[] = [];
    for (let first = 1; first <= 80_000; first += 7_000) {
      const got = await again.recordedOutcomes(first, first + 6_999);
      expect(got.every((r) => r.line >= first && r.line <= first + 6_999)).toBe(true);
      lines.push(...got.map((r) => r.line));
    }
    expect(lines).toEqual(Array.from({ length: 80_000 }, (_, i) => i + 1));
    await again.close();
  });

  it('is read as of a line, without a lock, while its writer holds it', async () => {
    await openJournal('asof');
    const { p } = await openPartition('asof');
    await writeLines(p, 1, 100, 30);
    await p.writeSnapshot({ accounts: [], events: 80, txParts: () => [] });
    await writeLines(p, 101, 200, 30);
    const reader = new PostgresPartition(target('asof'), 0, 1, { readOnly: true });
    expect(await reader.load()).toEqual({ lastSeq: 200, lastLine: 200 });
    expect(await reader.snapshotAsOf(99)).toBeUndefined();
    const snapshot = await reader.snapshotAsOf(150);
    expect(snapshot?.line).toBe(100);
    expect((await all(reader.records(snapshot!.seq, 150))).map((r) => r.line)).toEqual(
      Array.from({ length: 50 }, (_, i) => 101 + i),
    );
    await reader.close();
    await p.close();
  });

  it('reads a snapshot’s accounts alone for a replay, leaving its transaction index unread', async () => {
    await openJournal('accounts-only');
    const { p } = await openPartition('accounts-only');
    await writeLines(p, 1, 100, 50);
    const accounts = [{ client: 3, state: { available: 500, held: 20, locked: false } }];
    await p.writeSnapshot({
      accounts,
      events: 80,
      *txParts() {
        yield { keys: new Uint32Array([1, 2]), infos: new Uint32Array([1, 2]), amounts: new Float64Array([5, 6]) };
      },
    });
    await p.close();
    // The index part damaged: a recovery refuses it; the accounts alone are still whole.
    await withAdmin(
      (c) => c.query("UPDATE payments.snapshot_parts SET data = '\\x00' WHERE journal = $1", ['accounts-only']),
      database,
    );
    const reader = new PostgresPartition(target('accounts-only'), 0, 1, { readOnly: true });
    await reader.load();
    await expect(reader.snapshotAsOf(100)).rejects.toThrow();
    const alone = await reader.snapshotAsOf(100, false);
    expect(alone).toMatchObject({ seq: 100, line: 100, events: 80, accounts, txParts: [] });
    await reader.close();
    const replay = await replayPostgres(urlFor(database, { params: { journal: 'accounts-only' } }));
    expect(replay.accounts).toEqual(new Map([[3, accounts[0]!.state]]));
    expect(replay.recordsReplayed).toBe(0);
  });

  it("replays the accounts as of a line, and lists a client's records for inspect", async () => {
    await openJournal('replay', 2);
    for (const shard of [0, 1]) {
      const { p } = await openPartition('replay', shard, 2);
      // Shard 0 holds the odd lines, shard 1 the even ones.
      for (let line = 1 + shard; line <= 400; line += 2) {
        record(p, line);
        if (line % 100 < 2) await p.commit();
      }
      await p.commit();
      await p.close();
    }
    const url = urlFor(database, { params: { journal: 'replay' } });
    const expected = (asOf: number) => {
      const balances = new Map<number, number>();
      for (let line = 1; line <= asOf; line++) {
        const client = line % 7;
        balances.set(client, (balances.get(client) ?? 0) + (line % 5 === 0 ? 0 : line * 100));
      }
      return balances;
    };
    for (const asOf of [1, 250, 400, Number.POSITIVE_INFINITY]) {
      const replay = await replayPostgres(url, asOf);
      const available = new Map([...replay.accounts].map(([client, a]) => [client, a.available]));
      expect(available).toEqual(expected(Math.min(asOf, 400)));
    }
    let text = '';
    for await (const piece of inspectPostgres(
      url,
      () => [0, 1],
      3,
      (t) => t,
    ))
      text += piece;
    const lines = text.trim().split('\n');
    expect(lines.length).toBe(Array.from({ length: 400 }, (_, i) => i + 1).filter((l) => l % 7 === 3).length);
    expect(lines.find((l) => l.split(',')[2] === '10')).toBe(
      '1,5,10,Rejected,withdrawal,3,10,0.1000,insufficient_funds',
    );
  });

  it('reads every partition over one session for replay and for inspect: a server backend each is costly to start', async () => {
    await openJournal('one-session', 4);
    for (const shard of [0, 1, 2, 3]) {
      const { p } = await openPartition('one-session', shard, 4);
      await writeLines(p, 1 + shard * 10, 10 + shard * 10, 4);
      await p.close();
    }
    const url = urlFor(database, { params: { journal: 'one-session' } });
    // Sessions the server has started for this file's database (each ended backend reports its own).
    const sessions = () =>
      withAdmin(async (c) => {
        await c.query('SELECT pg_stat_clear_snapshot()');
        return Number(
          (await c.query('SELECT sessions FROM pg_stat_database WHERE datname = $1', [database])).rows[0].sessions,
        );
      });
    const opened = async (read: () => Promise<unknown>) => {
      const before = await sessions();
      await read();
      await until(async () => (await sessions()) > before);
      await new Promise((r) => setTimeout(r, 300)); // a second session would have reported by now
      return (await sessions()) - before;
    };
    expect(await opened(() => replayPostgres(url))).toBe(1);
    expect(
      await opened(async () => {
        for await (const _ of inspectPostgres(
          url,
          () => [0, 1, 2, 3],
          undefined,
          (t) => t,
        ))
          void _;
      }),
    ).toBe(1);
  });

  it('is replayed and inspected by a role that may only read (USAGE on the schema, SELECT on its tables)', async () => {
    const secret = 'reader-pw-3k9';
    await withAdmin(async (c) => {
      await c.query('DROP OWNED BY payments_reader').catch(() => undefined);
      await c.query('DROP ROLE IF EXISTS payments_reader');
      await c.query(`CREATE ROLE payments_reader LOGIN PASSWORD '${secret}'`);
    });
    await withAdmin(async (c) => {
      await c.query('GRANT USAGE ON SCHEMA payments TO payments_reader');
      await c.query('GRANT SELECT ON ALL TABLES IN SCHEMA payments TO payments_reader');
    }, database);
    const url = urlFor(database, { user: 'payments_reader', password: secret, params: { journal: 'replay' } });
    const replay = await replayPostgres(url);
    expect(replay.partitions).toBe(2);
    expect(replay.recordsReplayed).toBe(400);
    let text = '';
    for await (const piece of inspectPostgres(
      url,
      () => [0],
      undefined,
      (t) => t,
    ))
      text += piece;
    expect(text.trim().split('\n')).toHaveLength(200);
  });

  it('keeps a second run off a partition in use (exit 2)', async () => {
    await openJournal('busy');
    const { p } = await openPartition('busy');
    const error = await refusalOf(openPartition('busy'));
    expect(error.exitCode).toBe(2);
    expect(error.kind).toBe('journal-busy');
    await p.close();
  });
});

describe('a batch is applied once whatever the retries', () => {
  // A connection lost just before or after COMMIT: postgres-journal-contract.int.test.ts.
  it('when pg_terminate_backend cuts the connection while its INSERT waits', async () => {
    const journal = 'cut-insert';
    await openJournal(journal);
    const { p } = await openPartition(journal);
    const rows = 100_000;
    for (let line = 1; line <= rows; line++) record(p, line);
    // The batch's INSERT waits on a lock held here, so the cut finds it in flight, every time.
    const holder = new pg.Client({ connectionString: urlFor(database) });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
      const committing = p.commit();
      await until(async () => {
        const cut = await withAdmin(async (c) => {
          const r = await c.query(
            "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
            [`payments ${journal} shard 0`],
          );
          return r.rows.filter((row) => row.cut === true).length;
        }, database);
        return cut > 0;
      });
      await holder.query('COMMIT');
      await committing;
      await p.settle();
    } finally {
      await holder.end();
    }
    expect(p.retries).toBeGreaterThan(0);
    await p.close();
    await expectGapless(journal, rows);
  });
});

describe('a server restart in the middle of a sequence of batches', () => {
  let server: { url: string; dir: string; dataDir: string; port: number; bin: string };
  beforeAll(async () => {
    server = await startServer({}); // a server of its own: a restart must not cut other test files
  });
  afterAll(() => stopServer(server));

  it('is survived within the retry bound, each batch once', async () => {
    const url = new URL(server.url);
    url.searchParams.set('journal', 'restart');
    const t = parsePostgresUrl(url.toString());
    const store = new PostgresJournalStore(t);
    await store.openRun(input, 1);
    await store.close();
    const retried: number[] = [];
    const p = new PostgresPartition(t, 0, 1, { onRetry: (attempt) => retried.push(attempt) });
    await p.recover();
    await writeLines(p, 1, 300, 100);
    restartServer(server);
    await writeLines(p, 301, 600, 100);
    restartServer(server);
    await p.writeSnapshot({ accounts: [], events: 480, txParts: () => [] }); // lines 1-600 less every 5th
    await p.close();
    expect(retried.length).toBeGreaterThan(0);
    const { p: again, recovery } = await (async () => {
      const q = new PostgresPartition(t, 0, 1);
      return { p: q, recovery: await q.recover() };
    })();
    expect(recovery.lastSeq).toBe(600);
    expect(recovery.snapshot?.seq).toBe(600);
    await again.close();
    const c = new (await import('pg')).default.Client({ connectionString: server.url });
    await c.connect();
    const r = await c.query(
      "SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d, max(seq)::int AS m FROM payments.events WHERE journal = 'restart'",
    );
    await c.end();
    expect(r.rows[0]).toEqual({ n: 600, d: 600, m: 600 });
  });
});

describe('schema creation', () => {
  // Each process first looks the schema up (and finds nothing), then waits on the migration lock:
  // PostgreSQL's catalog cache keeps that "not found" past the wait, so CREATE SCHEMA IF NOT EXISTS
  // once raced into a unique violation on pg_namespace (seen in CI with three nodes and a submit).
  it('succeeds for every one of many clients starting at once on an empty database, journal and cluster schemas', async () => {
    for (let round = 0; round < 3; round++) {
      const db = await freshDatabase(`race${round}`);
      const clients = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const c = new pg.Client({ connectionString: urlFor(db) });
          c.on('error', () => undefined);
          await c.connect();
          return c;
        }),
      );
      try {
        const results = await Promise.allSettled(
          clients.map((c, i) => (i % 2 === 0 ? migrate(c, db) : ensureClusterSchema(c, db))),
        );
        expect(
          results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
        ).toEqual([]);
        const version = await currentVersion(clients[0]!);
        expect(version).toBe(schemaVersion);
        const fence = await clients[0]!.query(`SELECT to_regprocedure('payments_cluster.fence()') IS NOT NULL AS ok`);
        expect(fence.rows[0].ok).toBe(true);
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
    }
  });
});

describe('refusals', () => {
  it('refuses a database whose schema is newer than this program (exit 2)', async () => {
    const db = await freshDatabase('newer');
    await openJournal('x', 1, {}, db);
    await withAdmin(
      (c) =>
        c.query("INSERT INTO payments.schema_migrations (version, description) VALUES ($1, 'from the future')", [
          schemaVersion + 1,
        ]),
      db,
    );
    const error = await refusalOf(openJournal('x', 1, {}, db));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(
      new RegExp(`schema is version ${schemaVersion + 1}, newer than this program's ${schemaVersion}`),
    );
    const read = await refusalOf(new PostgresJournalStore(target('x', {}, db)).read());
    expect(read.exitCode).toBe(2);
  });

  it('refuses a journal written for another input (exit 2)', async () => {
    await openJournal('other-input');
    const store = new PostgresJournalStore(target('other-input'));
    const error = await refusalOf(store.openRun({ ...input, size: 999 }, 1));
    await store.close();
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/different input/);
  });

  it('refuses a wrong password (exit 2) without printing it', async () => {
    const secret = 'not-the-password-7f3a';
    const t = parsePostgresUrl(urlFor(database, { password: secret, params: { journal: 'pw' } }));
    const error = await refusalOf(new PostgresJournalStore(t).openRun(input, 1));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/password authentication failed/);
    expect(error.message).not.toContain(secret);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('takes the password from PGPASSWORD or a .pgpass file when the URL has none', async () => {
    const { password } = new URL(urlFor(database));
    const bare = urlFor(database, { password: '', params: { journal: 'env-pw' } });
    const dir = mkdtempSync(join(tmpdir(), 'pgpass-'));
    const passfile = join(dir, 'pgpass');
    writeFileSync(passfile, `*:*:*:*:${password}\n`, { mode: 0o600 });
    for (const env of [{ PGPASSWORD: password }, { PGPASSFILE: passfile }]) {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        const store = new PostgresJournalStore(parsePostgresUrl(bare));
        expect((await store.openRun(input, 1)).manifest.shards).toBe(1);
        await store.close();
      } finally {
        process.env = saved;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes sslmode and sslrootcert as libpq does: refusals are exit 2 and name the cause', async () => {
    const required = parsePostgresUrl(urlFor(database, { params: { journal: 'tls', sslmode: 'require' } }));
    const noTls = await refusalOf(new PostgresJournalStore(required).openRun(input, 1));
    expect(noTls.exitCode).toBe(2);
    expect(noTls.message).toMatch(/does not support SSL/);
    const missing = parsePostgresUrl(
      urlFor(database, { params: { journal: 'tls', sslmode: 'verify-full', sslrootcert: '/nonexistent/root.crt' } }),
    );
    const noCert = await refusalOf(new PostgresJournalStore(missing).openRun(input, 1));
    expect(noCert.exitCode).toBe(2);
    expect(noCert.message).toMatch(/\/nonexistent\/root\.crt/);
  });

  it('refuses a role without the rights it needs (exit 2), naming what it needs', async () => {
    const db = await freshDatabase('rights');
    await openJournal('owned', 1, {}, db); // the schema exists, owned by the superuser
    const secret = 'pw-of-a-weak-role-1';
    await withAdmin(async (c) => {
      await c.query('DROP ROLE IF EXISTS payments_weak');
      await c.query(`CREATE ROLE payments_weak LOGIN PASSWORD '${secret}'`);
    });
    for (const journal of ['owned', 'new-one']) {
      const t = parsePostgresUrl(urlFor(db, { user: 'payments_weak', password: secret, params: { journal } }));
      const error = await refusalOf(new PostgresJournalStore(t).openRun(input, 1));
      expect(error.exitCode).toBe(2);
      expect(error.message).toMatch(/permission denied.*a run's role needs/);
      expect(error.message).not.toContain(secret);
    }
    // On a database where it may not even create the schema:
    const empty = await freshDatabase('rights_empty');
    const t = parsePostgresUrl(urlFor(empty, { user: 'payments_weak', password: secret }));
    const error = await refusalOf(new PostgresJournalStore(t).openRun(input, 1));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/permission denied/);
  });

  it('stops with exit 1 and what to do when the server stays away past the retry bound', async () => {
    const t = parsePostgresUrl('postgres://someone:secret-xyz@127.0.0.1:1/db?journal=gone&retry_seconds=0.5');
    const error = await refusalOf(new PostgresJournalStore(t).openRun(input, 1));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(
      /could not reach the server within 0.5 s while .*run the same command again once the server is up/,
    );
    expect(error.message).not.toContain('secret-xyz');
  });

  describe('damaged rows (exit 2)', () => {
    async function damaged(journal: string, damage: string | ((c: pg.Client) => Promise<unknown>)): Promise<RunError> {
      await openJournal(journal);
      const { p } = await openPartition(journal);
      await writeLines(p, 1, 100, 40);
      await p.close();
      await withAdmin((c) => (typeof damage === 'string' ? c.query(damage, [journal]) : damage(c)), database);
      return refusalOf(
        (async () => {
          const { p: again, recovery } = await openPartition(journal);
          try {
            await all(recovery.tail);
          } finally {
            await again.close();
          }
        })(),
      );
    }

    /** Rewrites the batch at seq 41 with `edit`, and a checksum made to fit (a forger's, not a disk's). */
    const forged =
      (journal: string, edit: (b: StoredBatch) => StoredBatch, seq = 41) =>
      async (c: pg.Client) => {
        const found = await c.query(
          `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND first_seq = $2`,
          [journal, seq],
        );
        const b = edit(storedBatch(found.rows[0]) as StoredBatch);
        await c.query(
          'UPDATE payments.batches SET data = $2, count = $3, crc = $4 WHERE journal = $1 AND first_seq = $5',
          [journal, b.data, b.count, batchChecksum(b), seq],
        );
      };

    it('a batch cut short, its checksum made to fit, does not decode', async () => {
      const error = await damaged(
        'dmg-cut',
        forged('dmg-cut', (b) => ({ ...b, data: b.data.subarray(0, b.data.length - 1) })),
      );
      expect(error.exitCode).toBe(2);
      expect(error.message).toMatch(
        /partition 0: the journal batch at seq 41 \(lines 41-80\) does not decode \(the records end early\)/,
      );
    });

    it('a batch that claims a record fewer, its checksum made to fit, does not decode', async () => {
      const error = await damaged(
        'dmg-count',
        // The last batch (lines 81-100): a count one short elsewhere is a gap in the sequence numbers.
        forged('dmg-count', (b) => ({ ...b, count: b.count - 1 }), 81),
      );
      expect(error.exitCode).toBe(2);
      expect(error.message).toMatch(/batch at seq 81 .*does not decode \(\d+ bytes follow the last of 19 records\)/);
    });

    it('a batch byte flipped fails its checksum', async () => {
      const error = await damaged(
        'dmg-flip',
        'UPDATE payments.batches SET data = set_byte(data, 3, get_byte(data, 3) # 4) WHERE journal = $1 AND first_seq = 41',
      );
      expect(error.exitCode).toBe(2);
      expect(error.message).toMatch(/partition 0: the journal batch at seq 41 \(lines 41-80\) fails its checksum/);
    });
  });
});

afterAll(async () => {
  await terminateBackends('payments %', database);
});
