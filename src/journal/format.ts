/** The journal directory's layout and format version (shared by the writer, the readers and the manifest). */
import { join, resolve } from 'node:path';
import { workersMax } from '../constants.js';
import { usageError } from '../errors.js';

/**
 * 2: checksums cover every stored field (batch lines, sequence numbers and counts; snapshot
 * sequence number, line, event count and part count), not only the blobs.
 */
/**
 * 3: every batch stores the input proof of its read (io/input-proof.ts), which a resumed run checks
 * the input against. A format-2 journal has none: it is refused, never resumed unproven.
 */
export const journalFormatVersion = 3;

export const manifestFileName = 'manifest.json';
/** Held exclusively by the run writing the journal (see lock.ts). */
export const lockFileName = 'lock.sqlite';
export const partitionPrefix = 'partition-';

export function partitionPath(dir: string, shard: number): string {
  return join(dir, `${partitionPrefix}${shard}.sqlite`);
}

/**
 * Longest full path SQLite (as built into better-sqlite3) opens: its unix VFS keeps a database's
 * path within 512 bytes with room for the longest suffix of its side files ("-journal"); measured,
 * 504 opens and 505 does not. Compiled in: the journal checks its paths rather than fail later.
 */
export const sqlitePathBytesMax = 504;

/** Refuses (exit 2) a journal directory whose files' full paths SQLite would not open. */
export function checkJournalPathLength(dir: string): void {
  const longest = partitionPath(resolve(dir), workersMax - 1);
  const bytes = Buffer.byteLength(longest);
  if (bytes <= sqlitePathBytesMax) return;
  const room = sqlitePathBytesMax - (bytes - Buffer.byteLength(resolve(dir)));
  throw usageError(
    `--journal ${dir}: path too long: SQLite opens files whose full path is at most ${sqlitePathBytesMax} bytes, so the journal directory's full path may be at most ${room} bytes (this one is ${Buffer.byteLength(resolve(dir))}); use a shorter path`,
  );
}

/** How a partition is named in messages. */
export function partitionName(dir: string, shard: number): string {
  return `journal partition ${shard} (${partitionPath(dir, shard)})`;
}
