/** The journal directory's layout and format version (shared by the writer, the readers and the manifest). */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { workersMax } from '../constants.js';
import { usageError } from '../errors.js';
import type { BatchCodec } from './record-codec.js';

/**
 * The formats a journal directory has had. Every partition and the manifest carry the version;
 * a journal keeps the version it was created with, so that the version that wrote it can still
 * read it, and this program reads and resumes each as it was written:
 *
 * - 2: checksums cover every stored field (batch lines, sequence numbers and counts; snapshot
 *   sequence number, line, event count and part count), not only the blobs. Refused: its batches
 *   carry no input proof, so a resume could not be proven.
 * - 3: every batch stores the input proof of its read (io/input-proof.ts), which a resumed run
 *   checks the input against. Batches in the columns codec; every snapshot whole.
 * - 4: format 3 sealed (seal.ts): every batch and snapshot part encrypted.
 * - 5: batches in the compact codec (about a third of the bytes), and a finished partition's last
 *   snapshot may hold its accounts alone (tx_parts = -1), as the PostgreSQL journal's do. A version
 *   that reads only 3 and 4 says it was written by a newer one instead of misreading it.
 * - 6: format 5 sealed.
 */
export interface JournalFormat {
  readonly version: number;
  readonly sealed: boolean;
  readonly codec: BatchCodec;
  /** A snapshot of the accounts alone may close a finished partition. */
  readonly accountsOnlySnapshots: boolean;
}

const formats: readonly JournalFormat[] = [
  { version: 3, sealed: false, codec: 'columns', accountsOnlySnapshots: false },
  { version: 4, sealed: true, codec: 'columns', accountsOnlySnapshots: false },
  { version: 5, sealed: false, codec: 'compact', accountsOnlySnapshots: true },
  { version: 6, sealed: true, codec: 'compact', accountsOnlySnapshots: true },
];

/** The format of a new journal. */
export const journalFormatVersion = 5;
export const sealedJournalFormatVersion = 6;
/** The oldest format this program reads, and the newest. */
export const oldestJournalFormatVersion = 3;
export const newestJournalFormatVersion = sealedJournalFormatVersion;

/** The format of `version`; undefined for one this program does not read. */
export function journalFormat(version: number): JournalFormat | undefined {
  return formats.find((f) => f.version === version);
}

/** The version a journal of `version` has once sealed (a reseal keeps the codec and snapshots). */
export function sealedVersionOf(version: number): number {
  const format = journalFormat(version);
  const sealed = format && formats.find((f) => f.sealed && f.codec === format.codec);
  if (sealed === undefined) throw new Error(`invariant: no sealed form of journal format ${version}`);
  return sealed.version;
}

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
