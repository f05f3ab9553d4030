/**
 * `payments reseal` for a PostgreSQL journal: every batch and snapshot part sealed again under a
 * new key (or sealed for the first time) in one transaction, holding the journal's run lock. Every
 * unit is checked whole (checksum, authentication, every record decoded) before it is rewritten; a
 * damaged journal is refused and the transaction rolled back, leaving the journal as it was.
 */
import type pg from 'pg';
import { accountsChecksum, accountsFields, partChecksum } from './snapshot-write.js';
import { JournalCorrupt, usageError } from '../../errors.js';
import { batchChecksum, batchSealFields, decodeCheckedColumns, type StoredBatch } from '../record-codec.js';
import {
  keyForJournal,
  newJournalSealId,
  PartitionSeal,
  type JournalKey,
  type JournalKeyring,
  type JournalSealInfo,
} from '../seal.js';
import { checkedLastSeq, legacyFormat, storedBatch, storedColumns, type BatchInfo } from './partition-read.js';
import { PostgresJournalStore, postgresJournalFormatVersion, sealOfRow } from './store.js';
import { migrate } from './schema.js';
import type { PostgresTarget } from './url.js';
import type { ResealResult } from '../sqlite/reseal.js';

/** Batch rows read at a time. */
const rowsPerRead = 512;

export async function resealPostgres(
  target: PostgresTarget,
  oldKeys: JournalKeyring,
  newKey: JournalKey,
): Promise<ResealResult> {
  // The run lock: no local run writes the journal meanwhile (a cluster's nodes take no such lock).
  const store = new PostgresJournalStore(target, { holdJournal: true });
  try {
    return await store.connection.run(
      'resealing the journal',
      async (client) => {
        await migrate(client, target.display);
        await client.query('BEGIN');
        try {
          const result = await reseal(client, target, store.where, oldKeys, newKey);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      },
      { patient: true },
    );
  } finally {
    await store.close();
  }
}

async function reseal(
  client: pg.Client,
  target: PostgresTarget,
  where: string,
  oldKeys: JournalKeyring,
  newKey: JournalKey,
): Promise<ResealResult> {
  const found = await client.query('SELECT * FROM payments.journals WHERE name = $1 FOR UPDATE', [target.journal]);
  const row = found.rows[0];
  if (row === undefined) throw usageError(`${where}: no journal named ${JSON.stringify(target.journal)} here`);
  if (row.format_version < postgresJournalFormatVersion) throw legacyFormat(where);
  const from = sealOfRow(row);
  const keys = [...oldKeys.filter((k) => k.id !== newKey.id), newKey];
  if (from) keyForJournal(where, from, keys);
  const to: JournalSealInfo = { journalId: from?.journalId ?? newJournalSealId(), keyId: newKey.id };
  let batches = 0;
  let snapshotUnits = 0;
  for (let shard = 0; shard < (row.shards as number); shard++) {
    const at = `${where} partition ${shard}`;
    const source = from && new PartitionSeal(from, shard, keyForJournal(where, from, keys), keys);
    const sealer = new PartitionSeal(to, shard, newKey, [newKey]);
    batches += await resealBatches(client, target.journal, shard, at, source, sealer);
    snapshotUnits += await resealSnapshots(client, target.journal, shard, at, source, sealer);
  }
  await client.query(
    'UPDATE payments.journals SET seal_id = $2, seal_key_id = $3, updated_at = now() WHERE name = $1',
    [target.journal, to.journalId, to.keyId],
  );
  return { partitions: row.shards as number, batches, snapshotUnits, fromKeyId: from?.keyId, toKeyId: to.keyId };
}

async function resealBatches(
  client: pg.Client,
  journal: string,
  shard: number,
  at: string,
  from: PartitionSeal | undefined,
  to: PartitionSeal,
): Promise<number> {
  const infos: BatchInfo[] = [];
  let seq = 0;
  for (;;) {
    const found = await client.query(
      `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND partition = $2 AND first_seq > $3 ORDER BY first_seq LIMIT ${rowsPerRead}`,
      [journal, shard, seq],
    );
    if (found.rows.length === 0) break;
    for (const r of found.rows) {
      const stored = storedBatch(r);
      if (stored.data === null) throw legacyFormat(at);
      const b = stored as StoredBatch;
      decodeCheckedColumns(b, at, 'compact', from); // checksum, authentication, every record
      const plain = from ? from.open('batch', b.data, batchSealFields(b), at) : b.data;
      const data = to.seal('batch', plain, batchSealFields(b));
      await client.query(
        'UPDATE payments.batches SET data = $4, crc = $5 WHERE journal = $1 AND partition = $2 AND first_line = $3',
        [journal, shard, b.first_line, data, batchChecksum({ ...b, data })],
      );
      infos.push({
        firstLine: b.first_line,
        lastLine: b.last_line,
        firstSeq: b.first_seq,
        count: b.count,
        events: b.events,
        crc: 0,
        proof: undefined,
      });
      seq = b.first_seq;
    }
  }
  checkedLastSeq(infos, at); // gapless sequence numbers
  return infos.length;
}

async function resealSnapshots(
  client: pg.Client,
  journal: string,
  shard: number,
  at: string,
  from: PartitionSeal | undefined,
  to: PartitionSeal,
): Promise<number> {
  const snapshots = await client.query(
    'SELECT seq, line, events, accounts, crc, tx_parts, base_seq FROM payments.snapshots WHERE journal = $1 AND partition = $2 ORDER BY seq',
    [journal, shard],
  );
  let units = 0;
  const full = new Set<number>(); // seqs of the full snapshots seen (a layered one's base comes first)
  for (const s of snapshots.rows) {
    const seq = Number(s.seq);
    const unit = `${at}: the snapshot at seq ${seq}`;
    const damaged = () => new JournalCorrupt(`${unit} fails its checksum (damaged or edited)`);
    const baseSeq = s.base_seq === null ? null : Number(s.base_seq);
    if (baseSeq !== null && !full.has(baseSeq))
      throw new JournalCorrupt(
        `${unit} is layered on a full snapshot at seq ${baseSeq} that the journal does not hold`,
      );
    if (baseSeq === null && (s.tx_parts as number) >= 0) full.add(seq);
    const fields = accountsFields(seq, Number(s.line), Number(s.events), s.tx_parts as number, baseSeq);
    if (accountsChecksum(s.accounts, fields) !== Number(s.crc)) throw damaged();
    const accounts = to.seal('accounts', from ? from.open('accounts', s.accounts, fields, unit) : s.accounts, fields);
    await client.query(
      'UPDATE payments.snapshots SET accounts = $4, crc = $5 WHERE journal = $1 AND partition = $2 AND seq = $3',
      [journal, shard, seq, accounts, accountsChecksum(accounts, fields)],
    );
    const parts = await client.query(
      'SELECT part, data, crc FROM payments.snapshot_parts WHERE journal = $1 AND partition = $2 AND seq = $3 ORDER BY part',
      [journal, shard, seq],
    );
    if (parts.rows.length !== Math.max(0, s.tx_parts as number)) throw damaged(); // -1: accounts only
    for (const [i, p] of parts.rows.entries()) {
      if (p.part !== i || partChecksum(p.data, seq, i, baseSeq !== null) !== Number(p.crc)) throw damaged();
      const plain = from ? from.open('txPart', p.data, [seq, i], `${unit} (index part ${i})`) : p.data;
      const data = to.seal('txPart', plain, [seq, i]);
      await client.query(
        'UPDATE payments.snapshot_parts SET data = $5, crc = $6 WHERE journal = $1 AND partition = $2 AND seq = $3 AND part = $4',
        [journal, shard, seq, i, data, partChecksum(data, seq, i, baseSeq !== null)],
      );
      units++;
    }
    units++;
  }
  return units;
}
