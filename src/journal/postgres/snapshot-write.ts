/**
 * Writing one snapshot of a PostgreSQL partition, in one transaction. A whole snapshot stores the
 * accounts and the transaction index in parts (tx_parts >= 0); an accounts-only one (a finished
 * shard's last: EngineState.accountsOnly) stores tx_parts = -1 and no parts, and leaves the newest
 * whole snapshot in place, so that a recovery (which reads whole snapshots only) replays from it.
 */
import type pg from 'pg';
import { pgSnapshotsKept, snapshotPartTxs } from '../../constants.js';
import type { EngineState } from '../../engine/journal-port.js';
import { encodeAccounts, encodeTxPart, snapshotChecksum } from '../snapshot-codec.js';
import type { PartitionRef } from './partition-read.js';

/** tx_parts of a snapshot that holds the accounts alone. */
export const accountsOnlyParts = -1;

/** Stores the snapshot of `state` at (seq, line); the caller retries on a new connection. */
export async function insertSnapshot(
  client: pg.Client,
  ref: PartitionRef,
  seq: number,
  line: number,
  state: EngineState,
  attempt: number,
): Promise<void> {
  const keep = [ref.journal, ref.shard];
  const accountsOnly = state.accountsOnly === true;
  if (attempt > 0) {
    const found = await client.query(
      'SELECT 1 FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND seq = $3 AND (tx_parts >= 0) = $4',
      [...keep, seq, !accountsOnly],
    );
    if (found.rows.length > 0) return;
  }
  const plainAccounts = encodeAccounts(state.accounts);
  const { seal } = ref;
  await client.query('BEGIN');
  try {
    let parts = 0;
    if (!accountsOnly)
      for (const columns of state.txParts(snapshotPartTxs)) {
        const plain = encodeTxPart(columns);
        const data = seal ? seal.seal('txPart', plain, [seq, parts]) : plain;
        await client.query(
          'INSERT INTO payments.snapshot_parts (journal, partition, seq, part, data, crc) VALUES ($1, $2, $3, $4, $5, $6)',
          [...keep, seq, parts++, data, snapshotChecksum(data)],
        );
      }
    const txParts = accountsOnly ? accountsOnlyParts : parts;
    const accounts = seal ? seal.seal('accounts', plainAccounts, [seq, line, state.events, txParts]) : plainAccounts;
    // The older snapshots go first: the INSERT below is the fenced write (the trigger reads the
    // lease row FOR SHARE, held until COMMIT), so the lease is locked for one round trip only.
    // Accounts-only snapshots are always stale here (one at this seq is rewritten; they have no
    // parts); whole ones only when a whole one is written, beyond the newest pgSnapshotsKept.
    const where = 'FROM payments.snapshots WHERE journal = $1 AND partition = $2';
    const staleWhole = `SELECT seq ${where} AND tx_parts >= 0 ORDER BY seq DESC OFFSET ${pgSnapshotsKept - 1}`;
    if (!accountsOnly)
      await client.query(
        `DELETE FROM payments.snapshot_parts WHERE journal = $1 AND partition = $2 AND seq IN (${staleWhole})`,
        keep,
      );
    await client.query(
      `DELETE FROM payments.snapshots WHERE journal = $1 AND partition = $2 AND (tx_parts < 0${accountsOnly ? '' : ` OR seq IN (${staleWhole})`})`,
      keep,
    );
    await client.query(
      'INSERT INTO payments.snapshots (journal, partition, seq, line, events, accounts, crc, tx_parts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [...keep, seq, line, state.events, accounts, snapshotChecksum(accounts), txParts],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
