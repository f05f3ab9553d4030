/**
 * COPY throughput of the two PostgreSQL clients on the journal's own rows: pg + pg-copy-streams
 * versus the `postgres` package, two connections at once (one per shard, as a run has), each batch
 * one transaction (COPY + its payments.batches row), binary format, records encoded by the
 * journal's RecordEncoder. Optionally with an index on (client, seq) per partition.
 *
 *   node bench/pg-copy.mjs URL [rowsPerShard=1875000] [batchRows=10000]
 *
 * URL: a server (scripts/test-postgres.mjs start --fsync). Each variant gets a fresh journal.
 */
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import postgres from 'postgres';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { RecordEncoder, recordColumns } from '../dist/journal/postgres/copy-codec.js';
import { PostgresJournalStore, leafTable } from '../dist/journal/postgres/store.js';
import { parsePostgresUrl } from '../dist/journal/postgres/url.js';

const [url, rowsArg = '1875000', batchArg = '10000'] = process.argv.slice(2);
const rows = Number(rowsArg);
const batchRows = Number(batchArg);
const shards = 2;

function* batches(journal, shard) {
  const encoder = new RecordEncoder(journal, shard, 1);
  for (let line = 1; line <= rows; line++) {
    const row = { line: line * 2 + shard, typeCode: 0, client: line % 5000, tx: line * 2 + shard, amount: 12345 };
    encoder.addEvent({ type: 'Deposited', client: row.client, tx: row.tx, amount: row.amount }, row);
    if (line % batchRows === 0 || line === rows) yield encoder.take();
  }
}

const batchInsert = (journal, shard, b) =>
  `INSERT INTO payments.batches (journal, partition, first_line, last_line, first_seq, count, events, crc) VALUES ('${journal}', ${shard}, ${b.firstLine}, ${b.lastLine}, ${b.firstSeq}, ${b.count}, ${b.events}, ${b.crc})`;

async function viaPg(journal, id, shard, table = leafTable(id, shard)) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const b of batches(journal, shard)) {
    await client.query('BEGIN');
    await pipeline(
      Readable.from([b.copy]),
      client.query(copyStreams.from(`COPY ${table} (${recordColumns}) FROM STDIN (FORMAT binary)`)),
    );
    await client.query(`${batchInsert(journal, shard, b)}; COMMIT`);
  }
  await client.end();
}

async function viaPostgres(journal, id, shard) {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  for (const b of batches(journal, shard)) {
    await sql.begin(async (tx) => {
      const writable = await tx
        .unsafe(`COPY ${leafTable(id, shard)} (${recordColumns}) FROM STDIN (FORMAT binary)`)
        .writable();
      await pipeline(Readable.from([b.copy]), writable);
      await tx.unsafe(batchInsert(journal, shard, b));
    });
  }
  await sql.end();
}

async function variant(name, write, clientIndex, bare) {
  const journal = `bench-${name.replace(/[^A-Za-z0-9]+/g, '-')}-${Date.now()}`;
  const target = parsePostgresUrl(`${url}${url.includes('?') ? '&' : '?'}journal=${journal}`);
  const store = new PostgresJournalStore(target);
  const { manifest } = await store.openRun({ name: 'bench', size: 1, headCrc: 0, tailCrc: 0 }, shards);
  await store.close();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  if (clientIndex)
    for (let s = 0; s < shards; s++) await admin.query(`CREATE INDEX ON ${leafTable(manifest.id, s)} (client, seq)`);
  if (bare)
    for (let s = 0; s < shards; s++) {
      await admin.query(`CREATE TABLE payments.bare_${manifest.id}_${s} (LIKE payments.records)`);
      await admin.query(`CREATE INDEX ON payments.bare_${manifest.id}_${s} USING brin (seq)`);
    }
  const started = performance.now();
  await Promise.all(
    Array.from({ length: shards }, (_, s) =>
      bare ? viaPg(journal, manifest.id, s, `payments.bare_${manifest.id}_${s}`) : write(journal, manifest.id, s),
    ),
  );
  const table = (s) => (bare ? `payments.bare_${manifest.id}_${s}` : leafTable(manifest.id, s));
  const seconds = (performance.now() - started) / 1000;
  const size = await admin.query(
    `SELECT pg_total_relation_size('${table(0)}') + pg_total_relation_size('${table(1)}') AS bytes`,
  );
  await admin.end();
  const total = rows * shards;
  console.log(
    `${name.padEnd(24)} ${total} rows in ${seconds.toFixed(2)} s = ${Math.round(total / seconds).toLocaleString('en')} rows/s; ${(Number(size.rows[0].bytes) / total).toFixed(1)} bytes/row`,
  );
}

const started = performance.now();
let n = 0;
for (const b of batches('x', 0)) n += b.count;
console.log(`encode only: ${n} rows in ${((performance.now() - started) / 1000).toFixed(2)} s`);
const only = process.env.VARIANTS?.split(',');
if (only) {
  for (const v of only) {
    if (v === 'pg') await variant('pg+pg-copy-streams', viaPg, false);
    if (v === 'postgres') await variant('postgres', viaPostgres, false);
    if (v === 'bare') await variant('pg, BRIN(seq), no PK', viaPg, false, true);
  }
  process.exit(0);
}
for (const round of [1, 2]) {
  console.log(`round ${round}`);
  await variant('pg+pg-copy-streams', viaPg, false);
  await variant('postgres', viaPostgres, false);
  if (round === 1) await variant('pg + (client,seq) index', viaPg, true);
}
