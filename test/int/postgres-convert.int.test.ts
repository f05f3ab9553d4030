/**
 * Journals of the row format (journal formats 1 and 2: one row of payments.records per record, in a
 * schema of version 2) are refused by every command but `payments convert`, which rewrites them as
 * batches: the same records (payments.events reads the same before and after), replayable, and a
 * format-1 journal (no input proofs) still never resumed. The legacy journals are built here the
 * way the older version laid them out, checksums over the records' binary COPY tuples included.
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatUnits } from '../../src/domain/money.js';
import { encodeCompact } from '../../src/journal/compact-codec.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { journalLockKey } from '../../src/journal/postgres/run-lock.js';
import { migrate, migrations } from '../../src/journal/postgres/schema.js';
import { recordLayout } from '../../src/layout.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { expectOneLine, runCli } from '../helpers/cli.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

let database = '';
beforeAll(async () => {
  database = await freshDatabase('convert');
  await withAdmin((c) => migrate(c, 'test', migrations.slice(0, 2)), database); // the older version's schema
});

const lines = 100;
const perBatch = 40;
const fingerprint = { name: 'input.csv', size: 1, headCrc: 0, tailCrc: 0 };
const url = (journal: string) => urlFor(database, { params: { journal } });

/** Line L: a deposit of L cents by client L % 7 with tx L, or (every 5th line) a withdrawal rejected as insufficient_funds. */
async function legacyJournal(journal: string, format: 1 | 2): Promise<void> {
  await withAdmin(async (c) => {
    const { id } = (
      await c.query(
        `INSERT INTO payments.journals (name, format_version, shards, input_name, input_size, input_head_crc, input_tail_crc)
         VALUES ($1, $2, 1, 'input.csv', 1, 0, 0) RETURNING id`,
        [journal, format],
      )
    ).rows[0] as { id: number };
    await c.query(
      `CREATE TABLE payments.records_j${id} PARTITION OF payments.records FOR VALUES IN ('${journal}') PARTITION BY LIST (partition)`,
    );
    await c.query(`CREATE TABLE payments.records_j${id}_p0 PARTITION OF payments.records_j${id} FOR VALUES IN (0)`);
    await c.query(
      `INSERT INTO payments.records (journal, seq, line, tx, amount, client, partition, kind, type, reason)
       SELECT $1, l, l, l, l * 100, l % 7, 0, CASE WHEN l % 5 = 0 THEN 5 ELSE 0 END,
              CASE WHEN l % 5 = 0 THEN 1 ELSE 0 END, CASE WHEN l % 5 = 0 THEN 7 END
       FROM generate_series(1, $2::int) l`,
      [journal, lines],
    );
    for (let first = 1; first <= lines; first += perBatch) {
      const last = Math.min(lines, first + perBatch - 1);
      const events = Array.from({ length: last - first + 1 }, (_, i) => first + i).filter((l) => l % 5 !== 0).length;
      await c.query(
        `INSERT INTO payments.batches (journal, partition, first_line, last_line, first_seq, count, events, crc, input_end, input_crc)
         VALUES ($1, 0, $2, $3, $2, $4, $5, $6, $7, $8)`,
        [
          journal,
          first,
          last,
          last - first + 1,
          events,
          await tuplesCrc(c, id, first, last),
          format === 2 ? last * 10 : null,
          format === 2 ? last : null,
        ],
      );
    }
  }, database);
}

/** The older version's batch checksum: CRC-32 of the records' binary COPY tuples (no header, no trailer). */
async function tuplesCrc(c: pg.Client, id: number, first: number, last: number): Promise<number> {
  const chunks: Buffer[] = [];
  const stream = c.query(
    copyStreams.to(
      `COPY (SELECT journal, seq, line, tx, amount, client, partition, kind, type, reason FROM payments.records_j${id}_p0
             WHERE seq BETWEEN ${first} AND ${last} ORDER BY seq) TO STDOUT (FORMAT binary)`,
    ),
  );
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const all = Buffer.concat(chunks);
  return crc32(all.subarray(19, all.length - 2));
}

const events = (journal: string) =>
  withAdmin(
    async (c) => (await c.query('SELECT * FROM payments.events WHERE journal = $1 ORDER BY seq', [journal])).rows,
    database,
  );

/** The accounts the records make: client, available (= total), 0 held, unlocked. */
function expectedAccounts(): string {
  const sums = new Map<number, number>();
  for (let l = 1; l <= lines; l++) if (l % 5 !== 0) sums.set(l % 7, (sums.get(l % 7) ?? 0) + l * 100);
  const rows = [...sums.entries()].sort(([a], [b]) => a - b);
  return `client,available,held,total,locked\n${rows.map(([client, v]) => `${client},${formatUnits(v)},${formatUnits(0)},${formatUnits(v)},false\n`).join('')}`;
}

describe('a row-format journal', () => {
  it('is refused by replay, inspect and a run, each naming the convert command (exit 2)', async () => {
    await legacyJournal('old2', 2);
    for (const args of [
      ['replay', '--journal', url('old2')],
      ['inspect', '--journal', url('old2')],
    ]) {
      const result = await runCli(args);
      expectOneLine(
        result,
        2,
        /journal format 2 .*convert it first: payments convert --journal 'postgres:\/\/.*journal=old2'/,
      );
      expect(result.stdout).toBe('');
    }
  });

  it('is converted whole: the same records, the same accounts, resumable checks kept', async () => {
    const before = await events('old2');
    expect(before).toHaveLength(lines);
    const converted = await runCli(['convert', '--journal', url('old2')]);
    expect(converted.code, converted.stderr).toBe(0);
    expect(converted.stderr).toMatch(/converted from format 2: 3 batches, 100 records/);
    expect(await events('old2')).toEqual(before); // decoded from the batches now
    const leaves = await withAdmin(
      async (c) =>
        (await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'records_j%'")).rows[0].n,
      database,
    );
    expect(leaves).toBe(0);
    const replay = await runCli(['replay', '--journal', url('old2')]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(expectedAccounts());
    const again = await runCli(['convert', '--journal', url('old2')]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already stored as batches; nothing to convert/);
  });

  it('of format 1 (no input proofs) converts, replays, and is still never resumed', async () => {
    await legacyJournal('old1', 1);
    expect((await runCli(['convert', '--journal', url('old1')])).code).toBe(0);
    expect((await runCli(['replay', '--journal', url('old1')])).stdout).toBe(expectedAccounts());
    const store = new PostgresJournalStore(parsePostgresUrl(url('old1')), { holdJournal: true });
    try {
      await expect(store.openRun(fingerprint, 1)).rejects.toThrow(
        /stored without an input checksum .*so it cannot be resumed/,
      );
    } finally {
      await store.close();
    }
  });

  it('with a changed record is refused by convert (exit 2) and left as it was', async () => {
    await legacyJournal('bad', 2);
    await withAdmin(
      (c) => c.query("UPDATE payments.records SET amount = amount + 1 WHERE journal = 'bad' AND seq = 50"),
      database,
    );
    const result = await runCli(['convert', '--journal', url('bad')]);
    expectOneLine(result, 2, /partition 0: the batch at line 41 \(seq 41\) fails its checksum/);
    const format = await withAdmin(
      async (c) => (await c.query("SELECT format_version FROM payments.journals WHERE name = 'bad'")).rows[0],
      database,
    );
    expect(format).toEqual({ format_version: 2 });
    expect(await events('bad')).toHaveLength(lines);
  });

  it('is refused to a shard opened directly (as a cluster node opens it), never written', async () => {
    await legacyJournal('old3', 2);
    const partition = new PostgresPartition(parsePostgresUrl(url('old3')), 0, 1);
    try {
      await expect(partition.recover()).rejects.toThrow(/row format of an older version .*payments convert/);
    } finally {
      await partition.close();
    }
  });

  it('convert refuses a journal whose partition a writer holds (exit 2), and converts it once free', async () => {
    const holder = new pg.Client({ connectionString: urlFor(database) });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(${journalLockKey('old3', 0)})`);
      expectOneLine(await runCli(['convert', '--journal', url('old3')]), 2, /partition 0 is in use by a writer/);
    } finally {
      await holder.end();
    }
    expect((await runCli(['convert', '--journal', url('old3')])).code).toBe(0);
  });

  it('convert refuses a journal that is not there, and a SQLite directory (exit 2)', async () => {
    expectOneLine(await runCli(['convert', '--journal', url('nothing')]), 2, /no journal named "nothing"/);
    expectOneLine(await runCli(['convert', '--journal', '/tmp/some-dir']), 2, /convert reads a PostgreSQL journal/);
  });
});

describe('payments.batch_records (SQL)', () => {
  it('decodes every batch as the codec does, at every boundary', async () => {
    const client = new pg.Client({ connectionString: urlFor(database) });
    await client.connect();
    try {
      const edge = fc.record({
        gap: fc.constantFrom(1, 2, 2 ** 31, 2 ** 40),
        amount: fc.constantFrom(0, 1, 127, 128, 2 ** 31, 2 ** 53 - 1),
        tx: fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1),
        client: fc.constantFrom(0, 127, 128, 65535),
        head: fc.constantFrom(0, 4, 24, 25, 29, 99),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(edge, { minLength: 1, maxLength: 12 }), async (recs) => {
          const n = recs.length;
          const c = recordLayout.views(new ArrayBuffer(recordLayout.bytes(n)), n);
          let line = 7;
          recs.forEach((r, i) => {
            if (i > 0) line += r.gap;
            c.lines[i] = line;
            c.amounts[i] = r.amount;
            c.txs[i] = r.tx;
            c.clients[i] = r.client;
            c.types[i] = r.head % 5;
            c.kinds[i] = r.head < 25 ? Math.floor(r.head / 5) : 5;
            c.reasons[i] = r.head < 25 ? 255 : Math.floor((r.head - 25) / 5);
          });
          const data = encodeCompact(c, n, 7);
          const rows = (await client.query('SELECT * FROM payments.batch_records($1, 7, 100, $2)', [data, n])).rows;
          expect(
            rows.map((r) =>
              [r.seq, r.line, r.kind, r.type, r.client, r.tx, r.amount, r.reason].map((v) =>
                v === null ? null : Number(v),
              ),
            ),
          ).toEqual(
            recs.map((_, i) => [
              100 + i,
              c.lines[i],
              c.kinds[i],
              c.types[i],
              c.clients[i],
              c.txs[i],
              c.amounts[i],
              c.kinds[i] === 5 ? c.reasons[i] : null,
            ]),
          );
        }),
        { numRuns: 40 },
      );
    } finally {
      await client.end();
    }
  });
});
