/**
 * Writing a partition's snapshot (partition.ts), full or layered. A full snapshot stores every
 * account and the whole transaction index. A layered one (base_seq set) stores every account but
 * only the index entries added or changed since the full snapshot at base_seq, which stays until a
 * full snapshot replaces both: when the index is large and few entries changed (a shard handed over
 * shortly after a snapshot), it writes a small share of the bytes, and the next owner still
 * recovers from snapshots alone (base, then delta), replaying nothing.
 *
 * An accounts-only snapshot (a finished shard's last: EngineState.accountsOnly) stores tx_parts = -1
 * and no parts, and leaves the newest whole snapshot in place, so that a recovery (which reads whole
 * snapshots only) replays from it; outputs read the accounts alone.
 */
import type pg from 'pg';
import { pgSnapshotsKept, snapshotDeltaShareMax, snapshotPartTxs } from '../../constants.js';
import type { EngineState, TxIndexPart } from '../../engine/journal-port.js';
import { encodeAccounts, encodeTxPart, snapshotChecksum } from '../snapshot-codec.js';
import type { PartitionSeal } from '../seal.js';

/** tx_parts of a snapshot that holds the accounts alone. */
export const accountsOnlyParts = -1;

/**
 * The checksum of a snapshot's accounts and every field stored beside them (accountsFields): an
 * edited seq, line, events, part count (an accounts-only snapshot made to look whole) or base_seq
 * is refused, as its damaged bytes are.
 */
export function accountsChecksum(accounts: Uint8Array, fields: readonly number[]): number {
  return snapshotChecksum(accounts, ...fields);
}

/** The checksum of an index part; a layered snapshot's binds the part to its place (seq, part) too. */
export function partChecksum(data: Uint8Array, seq: number, part: number, layered: boolean): number {
  return layered ? snapshotChecksum(data, seq, part) : snapshotChecksum(data);
}

/** The fields a sealed snapshot's accounts are bound to (a layered one's: its base too). */
export function accountsFields(seq: number, line: number, events: number, parts: number, baseSeq: number | null) {
  return baseSeq === null ? [seq, line, events, parts] : [seq, line, events, parts, baseSeq];
}

export interface SnapshotAt {
  readonly journal: string;
  readonly shard: number;
  readonly seq: number;
  readonly line: number;
  /** The newest full snapshot the partition holds (0: none): a delta may only be layered on it. */
  readonly fullSeq: number;
  readonly seal?: PartitionSeal;
}

/** Whether the snapshot is stored as a delta over `at.fullSeq` (the base it names). */
export function layered(state: EngineState, at: SnapshotAt): boolean {
  const delta = state.txDelta;
  return (
    delta !== undefined &&
    state.accountsOnly !== true &&
    at.fullSeq > 0 &&
    delta.baseSeq === at.fullSeq &&
    delta.entries <= snapshotDeltaShareMax * delta.total
  );
}

/**
 * Writes the snapshot in one transaction, on `client` (the partition's fenced session): its index
 * parts, then the older snapshots deleted (a delta's base kept), then its row, the fenced write.
 * Returns whether it was a full snapshot (an accounts-only one is neither full nor layered).
 */
export async function writeSnapshotRows(client: pg.Client, state: EngineState, at: SnapshotAt): Promise<boolean> {
  const { journal, shard, seq, line, seal } = at;
  const delta = layered(state, at) ? state.txDelta : undefined;
  const baseSeq = delta === undefined ? null : at.fullSeq;
  const keep = [journal, shard];
  const accountsOnly = state.accountsOnly === true;
  const parts: Iterable<TxIndexPart> = accountsOnly
    ? []
    : delta === undefined
      ? state.txParts(snapshotPartTxs)
      : delta.parts(snapshotPartTxs);
  await client.query('BEGIN');
  try {
    // The older snapshots go first, before any part is written (an accounts-only snapshot may have
    // this seq: its replacement's parts must not go with it), and before the snapshot's own INSERT,
    // the fenced write (the trigger reads the lease row FOR SHARE, held until COMMIT), so the lease
    // is locked for one round trip only. A delta keeps its base; a snapshot whose base goes, goes
    // with it. An accounts-only snapshot replaces the previous one alone; a whole one replaces it
    // too, and the whole ones beyond the newest pgSnapshotsKept.
    const from = 'FROM payments.snapshots WHERE journal = $1 AND partition = $2';
    const stale = accountsOnly
      ? `SELECT seq ${from} AND tx_parts < 0`
      : baseSeq === null
        ? `SELECT seq ${from} AND tx_parts < 0 UNION ALL (SELECT seq ${from} AND tx_parts >= 0 ORDER BY seq DESC OFFSET ${pgSnapshotsKept - 1})`
        : `SELECT seq ${from} AND seq <> ${baseSeq}`;
    const dropped = `SELECT seq FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND (seq IN (${stale}) OR base_seq IN (${stale}))`;
    await client.query(
      `DELETE FROM payments.snapshot_parts WHERE journal = $1 AND partition = $2 AND seq IN (${dropped})`,
      keep,
    );
    await client.query(
      `DELETE FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND seq IN (${dropped})`,
      keep,
    );
    let count = 0;
    for (const columns of parts) {
      const plain = encodeTxPart(columns);
      const part = count++;
      const data = seal ? seal.seal('txPart', plain, [seq, part]) : plain;
      await client.query(
        'INSERT INTO payments.snapshot_parts (journal, partition, seq, part, data, crc) VALUES ($1, $2, $3, $4, $5, $6)',
        [...keep, seq, part, data, partChecksum(data, seq, part, delta !== undefined)],
      );
    }
    const plainAccounts = encodeAccounts(state.accounts);
    const txParts = accountsOnly ? accountsOnlyParts : count;
    const fields = accountsFields(seq, line, state.events, txParts, baseSeq);
    const accounts = seal ? seal.seal('accounts', plainAccounts, fields) : plainAccounts;
    await client.query(
      'INSERT INTO payments.snapshots (journal, partition, seq, line, events, accounts, crc, tx_parts, base_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [...keep, seq, line, state.events, accounts, accountsChecksum(accounts, fields), txParts, baseSeq],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return baseSeq === null && !accountsOnly;
}
