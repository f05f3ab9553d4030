import type Database from 'better-sqlite3';
import { batchChecksum, type StoredBatch } from '../record-codec.js';

/**
 * A write cut short leaves a last batch that fails its checksum: it is dropped (with any snapshot
 * taken after it), and its rows are applied again from the input. A last batch whose checksum holds
 * was written whole: if it does not decode or authenticate (read with another codec, or sealed by
 * another key), recovery refuses it, and nothing is deleted. Damage anywhere else is not a torn
 * write either, and recovery reports it.
 */
export function dropTornTail(db: Database.Database): { firstLine: number; lastLine: number } | undefined {
  const last = db.prepare('SELECT * FROM batches ORDER BY first_seq DESC LIMIT 1').get() as StoredBatch | undefined;
  if (last === undefined || batchChecksum(last) === last.crc) return undefined;
  db.transaction(() => {
    db.prepare('DELETE FROM batches WHERE first_seq = ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshot_txs WHERE seq >= ?').run(last.first_seq);
    db.prepare('DELETE FROM snapshots WHERE seq >= ?').run(last.first_seq);
  })();
  return { firstLine: last.first_line, lastLine: last.last_line };
}
