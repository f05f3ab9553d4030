import type Database from 'better-sqlite3';
import { JournalCorrupt } from '../../errors.js';
import { decodeRecords, type StoredBatch } from '../record-codec.js';
import { SealFailure } from '../seal.js';
import type { StoredUnits } from './recovery.js';

/**
 * A write cut short leaves a damaged last batch: it is dropped (with any snapshot taken after it),
 * and its rows are applied again from the input. Damage anywhere else is not a torn write, and
 * recovery reports it instead.
 */
export function dropTornTail(
  db: Database.Database,
  where: string,
  units: StoredUnits,
): { firstLine: number; lastLine: number } | undefined {
  const last = db.prepare('SELECT * FROM batches ORDER BY first_seq DESC LIMIT 1').get() as StoredBatch | undefined;
  if (last === undefined) return undefined;
  try {
    // A unit that fails authentication is not a torn write (its checksum passed): that error stays.
    decodeRecords(last, where, units.format.codec, units.seal);
    return undefined;
  } catch (error) {
    if (!(error instanceof JournalCorrupt) || error instanceof SealFailure) throw error;
  }
  db.transaction(() => {
    db.prepare('DELETE FROM batches WHERE first_seq = ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshot_txs WHERE seq >= ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshots WHERE seq >= ?').run(last.first_seq);
  })();
  return { firstLine: last.first_line, lastLine: last.last_line };
}
