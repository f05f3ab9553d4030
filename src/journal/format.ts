/** The journal directory's layout and format version (shared by the writer, the readers and the manifest). */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
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
/**
 * 4: a sealed journal (seal.ts): format 3 with every batch and snapshot part encrypted. A journal
 * without a key stays format 3, so that older versions still read it; they refuse a sealed one.
 */
export const sealedJournalFormatVersion = 4;

export { lockFileName, manifestFileName } from '../journal-files.js';
export const partitionPrefix = 'partition-';

export function partitionPath(dir: string, shard: number): string {
  return join(dir, `${partitionPrefix}${shard}.sqlite`);
}

/**
 * Longest full path SQLite (as built into better-sqlite3) opens: its unix VFS keeps a database's
 * path within 512 bytes with room for the longest suffix of its side files ("-journal"); measured,
 * 504 opens and 505 does not. Compiled in: the journal checks its paths rather than fail later.
 */
const sqlitePathBytesMax = 504;

/**
 * Refuses (exit 2) a journal directory whose files' full paths SQLite would not open. SQLite
 * resolves symbolic links first, so the directory's real path is what counts.
 */
export function checkJournalPathLength(dir: string): void {
  const real = Buffer.byteLength(realPathOf(dir));
  const room = sqlitePathBytesMax - Buffer.byteLength(`/${basename(partitionPath('', workersMax - 1))}`);
  if (real <= room) return;
  throw usageError(
    `--journal ${dir}: path too long: SQLite opens files whose full path is at most ${sqlitePathBytesMax} bytes, so the journal directory's full path (symbolic links resolved) may be at most ${room} bytes (this one is ${real}); use a shorter path`,
  );
}

/** The absolute path of `dir` with the symbolic links of its existing part resolved. */
function realPathOf(dir: string): string {
  let existing = resolve(dir);
  const rest: string[] = [];
  while (!existsSync(existing) && dirname(existing) !== existing) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return resolve(dir);
  }
}

/** How a partition is named in messages. */
export function partitionName(dir: string, shard: number): string {
  return `journal partition ${shard} (${partitionPath(dir, shard)})`;
}
