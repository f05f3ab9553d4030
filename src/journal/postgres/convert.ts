/**
 * `payments convert`: rewrites a PostgreSQL journal of the row format (journal formats 1 and 2, one
 * row of payments.records per record) as batches (format 3), in one transaction. Every record is
 * read back with the old format's checks (legacy-rows.ts) and re-encoded batch by batch: the same
 * lines, sequence numbers, counts and input proofs, a new checksum over the compact bytes. The old
 * rows go in the same transaction, so a journal is converted whole or not at all.
 */
import type pg from 'pg';
import { JournalCorrupt, RunError, usageError } from '../../errors.js';
import { journalLockKey } from './run-lock.js';
import type { JournalRecord } from '../../engine/journal-port.js';
import { RecordBatchBuilder } from '../record-codec.js';
import { fetchLegacyRecords, legacyLeafTable } from './legacy-rows.js';
import { checkedLastSeq, readBatches, windowEnd, type BatchInfo, type PartitionRef } from './partition-read.js';
import { currentVersion, migrate } from './schema.js';
import { PostgresJournalStore, postgresJournalFormatVersion } from './store.js';
import type { PostgresTarget } from './url.js';

export interface Converted {
  /** The journal was in the row format and now holds batches; false when it already did. */
  readonly converted: boolean;
  readonly fromFormat: number;
  readonly batches: number;
  readonly records: number;
}

export async function convertJournal(target: PostgresTarget): Promise<Converted> {
  // The run lock: no run writes the journal while it is rewritten, and none starts on it.
  const store = new PostgresJournalStore(target, { holdJournal: true });
  try {
    return await store.connection.run(
      'converting the journal',
      async (client) => {
        if ((await currentVersion(client)) === undefined)
          throw usageError(`journal ${target.display}: no payments journal in this database (no payments schema)`);
        await migrate(client, target.display);
        const found = await client.query('SELECT id, shards, format_version FROM payments.journals WHERE name = $1', [
          target.journal,
        ]);
        const row = found.rows[0] as { id: number; shards: number; format_version: number } | undefined;
        if (row === undefined)
          throw usageError(`journal ${target.display}: no journal named ${JSON.stringify(target.journal)} here`);
        if (row.format_version > postgresJournalFormatVersion)
          throw new JournalCorrupt(
            `journal ${target.display}: written by a newer version (journal format ${row.format_version}; this program reads ${postgresJournalFormatVersion})`,
          );
        if (row.format_version === postgresJournalFormatVersion)
          return { converted: false, fromFormat: row.format_version, batches: 0, records: 0 };
        await holdPartitions(client, target, row.shards);
        try {
          return await inOneTransaction(client, () => convertRows(client, target, row));
        } finally {
          await client.query('SELECT pg_advisory_unlock_all()');
        }
      },
      { patient: true },
    );
  } finally {
    await store.close();
  }
}

/**
 * Every partition's writer lock (run-lock.ts): a cluster's nodes take these, not the run lock, and
 * none may commit a batch while its journal is rewritten. Held by someone: exit 2.
 */
async function holdPartitions(client: pg.Client, target: PostgresTarget, shards: number): Promise<void> {
  for (let shard = 0; shard < shards; shard++) {
    const got = await client.query(`SELECT pg_try_advisory_lock(${journalLockKey(target.journal, shard)}) AS ok`);
    if (got.rows[0].ok) continue;
    await client.query('SELECT pg_advisory_unlock_all()');
    throw new RunError(
      `journal ${target.display}: partition ${shard} is in use by a writer; stop it, then convert`,
      2,
      {
        kind: 'journal-busy',
      },
    );
  }
}

async function convertRows(
  client: pg.Client,
  target: PostgresTarget,
  journal: { id: number; shards: number; format_version: number },
): Promise<Converted> {
  let batches = 0;
  let records = 0;
  for (let shard = 0; shard < journal.shards; shard++) {
    const ref: PartitionRef = { journal: target.journal, shard, where: `journal ${target.display} partition ${shard}` };
    const loaded = (await readBatches(client, ref, journal.shards, true)).batches;
    checkedLastSeq(loaded, ref.where);
    const leaf = legacyLeafTable(journal.id, shard);
    for (let from = 0; from < loaded.length;) {
      const to = windowEnd(loaded, from);
      const window = loaded.slice(from, to);
      const read = await fetchLegacyRecords(client, ref, leaf, window);
      let at = 0;
      for (const batch of window) {
        await rewriteBatch(client, ref, batch, read.slice(at, at + batch.count));
        at += batch.count;
      }
      records += read.length;
      batches += window.length;
      from = to;
    }
  }
  const unconverted = await client.query(
    'SELECT first_line FROM payments.batches WHERE journal = $1 AND data IS NULL LIMIT 1',
    [target.journal],
  );
  if (unconverted.rows.length > 0)
    throw new JournalCorrupt(`journal ${target.display}: a batch appeared while it was converted; convert it again`);
  await client.query(`DROP TABLE IF EXISTS payments.records_j${journal.id}`);
  await client.query('UPDATE payments.journals SET format_version = $2, updated_at = now() WHERE name = $1', [
    target.journal,
    postgresJournalFormatVersion,
  ]);
  return { converted: true, fromFormat: journal.format_version, batches, records };
}

/** One batch's records, re-encoded; its lines, sequence numbers and counts must come out the same. */
async function rewriteBatch(
  client: pg.Client,
  ref: PartitionRef,
  batch: BatchInfo,
  records: readonly JournalRecord[],
): Promise<void> {
  const builder = new RecordBatchBuilder();
  for (const r of records) {
    const row = { line: r.line, typeCode: r.typeCode, client: r.client, tx: r.tx, amount: r.amount };
    if (r.event) builder.addEvent(r.event, row);
    else builder.addRejection(r.reason, row);
  }
  const stored = builder.take(batch.firstSeq, batch.proof, 'compact');
  if (
    stored.first_line !== batch.firstLine ||
    stored.last_line !== batch.lastLine ||
    stored.count !== batch.count ||
    stored.events !== batch.events
  )
    throw new JournalCorrupt(`${ref.where}: the batch at line ${batch.firstLine} does not hold what its row says`);
  await client.query(
    'UPDATE payments.batches SET data = $4, crc = $5 WHERE journal = $1 AND partition = $2 AND first_line = $3',
    [ref.journal, ref.shard, batch.firstLine, stored.data, stored.crc],
  );
}

async function inOneTransaction<T>(client: pg.Client, body: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await body();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
