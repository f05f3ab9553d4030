/** The journal directory's layout and format version (shared by the writer, the readers and the manifest). */
import { join } from 'node:path';

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

/** How a partition is named in messages. */
export function partitionName(dir: string, shard: number): string {
  return `journal partition ${shard} (${partitionPath(dir, shard)})`;
}
