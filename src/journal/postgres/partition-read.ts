/** Reading a PostgreSQL journal partition back: its batches, its newest snapshot, its records by COPY (each checked). */
import { crc32 } from 'node:zlib';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { pgReadWindowRecords } from '../../constants.js';
import type { InputProof } from '../../io/input-proof.js';
import { JournalCorrupt } from '../../errors.js';
import type { JournalRecord, RecoveredSnapshot, TxIndexPart } from '../../engine/journal-port.js';
import { decodeAccounts, decodeTxPart, snapshotChecksum } from '../snapshot-codec.js';
import { RecordDecoder, recordColumns } from './copy-codec.js';

export interface BatchInfo {
  firstLine: number;
  lastLine: number;
  firstSeq: number;
  count: number;
  events: number;
  crc: number;
  /** The input proof committed with the batch (io/input-proof.ts); undefined when it was given none. */
  proof: InputProof | undefined;
}

/** Which partition is read, and how errors name it. */
export interface PartitionRef {
  readonly journal: string;
  readonly shard: number;
  readonly where: string;
}

/** The journal's id and the partition's batches, checking the shard count. */
export async function readBatches(
  client: pg.Client,
  ref: PartitionRef,
  shards: number,
): Promise<{ id: number; batches: BatchInfo[] }> {
  const journal = await client.query('SELECT id, shards FROM payments.journals WHERE name = $1', [ref.journal]);
  if (journal.rows.length === 0) throw new JournalCorrupt(`${ref.where}: the journal does not exist`);
  if (journal.rows[0].shards !== shards)
    throw new JournalCorrupt(`${ref.where}: written with ${journal.rows[0].shards} shards, not ${shards}`);
  const batches = await client.query(
    'SELECT first_line, last_line, first_seq, count, events, crc, input_end, input_crc FROM payments.batches WHERE journal = $1 AND partition = $2 ORDER BY first_seq',
    [ref.journal, ref.shard],
  );
  return { id: journal.rows[0].id as number, batches: batches.rows.map(batchInfo) };
}

function batchInfo(r: Record<string, unknown>): BatchInfo {
  return {
    firstLine: Number(r.first_line),
    lastLine: Number(r.last_line),
    firstSeq: Number(r.first_seq),
    count: r.count as number,
    events: r.events as number,
    crc: Number(r.crc),
    proof:
      r.input_end === null || r.input_crc === null ? undefined : { end: Number(r.input_end), crc: Number(r.input_crc) },
  };
}

/** The last sequence number of `batches`, checking that their sequence numbers have no gap. */
export function checkedLastSeq(batches: readonly BatchInfo[], where: string): number {
  let seq = 0;
  for (const batch of batches) {
    if (batch.firstSeq !== seq + 1)
      throw new JournalCorrupt(
        `${where}: sequence numbers have a gap or overlap (batch at seq ${batch.firstSeq} after seq ${seq})`,
      );
    seq += batch.count;
  }
  return seq;
}

/** The newest snapshot taken at or before input line `asOfLine`, its checksums checked. */
export async function readSnapshot(
  client: pg.Client,
  ref: PartitionRef,
  asOfLine: number,
): Promise<RecoveredSnapshot | undefined> {
  const found = await client.query(
    'SELECT seq, line, events, accounts, crc, tx_parts FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND line <= $3 ORDER BY seq DESC LIMIT 1',
    [ref.journal, ref.shard, Number.isFinite(asOfLine) ? asOfLine : Number.MAX_SAFE_INTEGER],
  );
  const row = found.rows[0];
  if (row === undefined) return undefined;
  const seq = Number(row.seq);
  const damaged = () => new JournalCorrupt(`${ref.where}: the snapshot at seq ${seq} fails its checksum`);
  if (snapshotChecksum(row.accounts) !== Number(row.crc)) throw damaged();
  const parts = await client.query(
    'SELECT part, data, crc FROM payments.snapshot_parts WHERE journal = $1 AND partition = $2 AND seq = $3 ORDER BY part',
    [ref.journal, ref.shard, seq],
  );
  if (parts.rows.length !== row.tx_parts) throw damaged();
  const txParts: TxIndexPart[] = [];
  parts.rows.forEach((part, i) => {
    if (part.part !== i || snapshotChecksum(part.data) !== Number(part.crc)) throw damaged();
    txParts.push(decodeTxPart(part.data));
  });
  return { seq, line: Number(row.line), events: Number(row.events), accounts: decodeAccounts(row.accounts), txParts };
}

/** A snapshot must end where a batch ends, with the events the batches count up to there. */
export function checkSnapshot(batches: readonly BatchInfo[], snapshot: RecoveredSnapshot, where: string): void {
  let events = 0;
  for (const batch of batches) {
    events += batch.events;
    if (batch.firstSeq + batch.count - 1 === snapshot.seq) {
      if (batch.lastLine === snapshot.line && events === snapshot.events) return;
      break;
    }
  }
  throw new JournalCorrupt(`${where}: the snapshot at seq ${snapshot.seq} does not match the batches`);
}

/** The end of the read window starting at batch `from`: whole batches, about pgReadWindowRecords records. */
export function windowEnd(batches: readonly BatchInfo[], from: number): number {
  let to = from + 1;
  let records = batches[from]!.count;
  while (to < batches.length && records + batches[to]!.count <= pgReadWindowRecords) records += batches[to++]!.count;
  return to;
}

export function firstBatchEndingAtOrAfter(batches: readonly BatchInfo[], line: number): number {
  let lo = 0;
  let hi = batches.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (batches[mid]!.lastLine < line) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The records of consecutive `batches` from leaf table `leaf`, checked batch by batch as they arrive. */
export async function fetchRecords(
  client: pg.Client,
  ref: PartitionRef,
  leaf: string,
  batches: readonly BatchInfo[],
): Promise<JournalRecord[]> {
  const items: JournalRecord[] = [];
  let index = 0;
  let inBatch = 0;
  let crc = 0;
  const first = batches[0]!.firstSeq;
  const lastBatch = batches[batches.length - 1]!;
  const last = lastBatch.firstSeq + lastBatch.count - 1;
  const decoder = new RecordDecoder(ref.where, (record, tuple) => {
    const batch = batches[index];
    if (batch === undefined) throw new JournalCorrupt(`${ref.where}: a record past seq ${last}`);
    const fail = (what: string) =>
      new JournalCorrupt(`${ref.where}: the batch at line ${batch.firstLine} (seq ${batch.firstSeq}) ${what}`);
    if (record.seq !== batch.firstSeq + inBatch) throw fail(`misses seq ${batch.firstSeq + inBatch}`);
    if (record.partition !== ref.shard) throw fail(`holds a record of partition ${record.partition}`);
    if (inBatch === 0 && record.line !== batch.firstLine) throw fail(`starts at line ${record.line}`);
    crc = crc32(tuple, crc);
    items.push(record);
    if (++inBatch === batch.count) {
      if (record.line !== batch.lastLine) throw fail(`ends at line ${record.line}, not ${batch.lastLine}`);
      if (crc !== batch.crc) throw fail('fails its checksum (a record was changed)');
      index++;
      inBatch = 0;
      crc = 0;
    }
  });
  const stream = client.query(
    copyStreams.to(
      `COPY (SELECT ${recordColumns} FROM ${leaf} WHERE seq BETWEEN ${first} AND ${last} ORDER BY seq) TO STDOUT (FORMAT binary)`,
    ),
  );
  for await (const chunk of stream) decoder.push(chunk as Buffer);
  if (index !== batches.length) {
    const batch = batches[index]!;
    throw new JournalCorrupt(
      `${ref.where}: the batch at line ${batch.firstLine} (seq ${batch.firstSeq}) has ${inBatch} records, not ${batch.count}`,
    );
  }
  return items;
}
