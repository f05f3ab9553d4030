/**
 * Accounts rebuilt from a journal alone, as they stood after input line N (default: everything the
 * partitions hold), through the same evolve as live processing. How far a run got is read from the
 * partitions themselves, not from the manifest's committedLine (which lags by up to a second).
 */
import { JournalCorrupt } from '../errors.js';
import { checkFinishedPartition, readManifest, type Manifest } from './manifest.js';
import { AccountReplay, type ReplayResult } from './replay-fold.js';
import type Database from 'better-sqlite3';
import { partitionExtent, readInputProofs, readSnapshot, readTail, type PartitionExtent } from './sqlite/recovery.js';
import { withPartition, type ReaderSeal } from './sqlite/reader.js';
import { isPostgresUrl } from './postgres/url.js';
import { keyForJournal, type JournalKeyring } from './seal.js';

export type { ReplayResult } from './replay-fold.js';

/** The manifest of an existing journal, or a usage-level error when there is none. */
export async function existingManifest(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest === undefined)
    throw new JournalCorrupt(`${dir}: no journal here (no manifest.json); write one with --journal`);
  return manifest;
}

/** A sealed journal's seal with the keys given (exit 2 when none is its key); undefined when not sealed. */
export function readerSeal(dir: string, manifest: Manifest, keys: JournalKeyring): ReaderSeal | undefined {
  if (manifest.seal === undefined) return undefined; // keys for a journal that is not sealed: nothing to open
  keyForJournal(`journal ${dir}`, manifest.seal, keys);
  return { seal: manifest.seal, keys };
}

/**
 * The partitions read as one journal's: a finished journal's each holds the records it finished
 * with (Manifest.ends), and where two hold a batch ending at the same input byte (a chunk read once,
 * routed to both), their CRCs of the input up to it agree. A partition file taken from another
 * journal (of another input, or restored from an older copy) fails one or the other.
 */
export class PartitionsOfOneRun {
  private readonly proofs = new Map<number, { crc: number; shard: number }>();

  constructor(private readonly manifest: Manifest) {}

  check(shard: number, db: Database.Database, where: string): PartitionExtent {
    const extent = partitionExtent(db, where);
    checkFinishedPartition(this.manifest, shard, extent.lastSeq, where);
    for (const proof of readInputProofs(db, where)) {
      if (proof === undefined) continue;
      const seen = this.proofs.get(proof.end);
      if (seen === undefined) this.proofs.set(proof.end, { crc: proof.crc, shard });
      else if (seen.crc !== proof.crc)
        throw new JournalCorrupt(
          `${where}: its proof of the input's first ${proof.end} bytes differs from partition ${seen.shard}'s: the two are not of one run (one was taken from another journal)`,
        );
    }
    return extent;
  }
}

export async function replayJournal(
  dir: string,
  asOfLine = Number.POSITIVE_INFINITY,
  keys: JournalKeyring = [],
): Promise<ReplayResult> {
  if (isPostgresUrl(dir)) return (await import('./postgres/run.js')).replayPostgres(dir, asOfLine, keys);
  const manifest = await existingManifest(dir);
  const sealed = readerSeal(dir, manifest, keys);
  const replay = new AccountReplay();
  const partitions = new PartitionsOfOneRun(manifest);
  for (let shard = 0; shard < manifest.shards; shard++) {
    withPartition(dir, shard, manifest, sealed, (reader) => {
      const { db, where } = reader;
      const extent = partitions.check(shard, db, where);
      // Accounts are all a replay rebuilds: any snapshot will do, its transaction index unread.
      const snapshot = readSnapshot(db, where, asOfLine, reader, false);
      replay.partition(extent.lastLine, snapshot?.accounts);
      for (const record of readTail(db, where, snapshot?.seq ?? 0, asOfLine, reader)) replay.apply(record);
    });
  }
  return replay.result(manifest);
}
