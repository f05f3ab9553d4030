/**
 * `payments reseal` for a journal directory: every batch and snapshot part sealed again under a new
 * key (or sealed for the first time), holding the journal's lock. Every partition is read and
 * checked whole first (sequence numbers, checksums, authentication, every record decoded), so a
 * damaged journal is refused before anything is written; then each partition is rewritten in one
 * transaction, and the manifest last. A reseal cut short between partitions leaves each partition
 * whole under one key or the other (each says which), which every command refuses until the same
 * reseal is run again: the new key is always accepted for reading, so it finishes the job.
 */
import type Database from 'better-sqlite3';
import { JournalCorrupt } from '../../errors.js';
import { partitionName, partitionPath, sealedVersionOf, type JournalFormat } from '../format.js';
import { JournalLock } from '../lock.js';
import { writeManifest, type Manifest } from '../manifest.js';
import { batchChecksum, batchSealFields, decodeCheckedColumns, type StoredBatch } from '../record-codec.js';
import { existingManifest } from '../replay.js';
import {
  keyForJournal,
  newJournalSealId,
  PartitionSeal,
  sealError,
  type JournalKey,
  type JournalKeyring,
  type JournalSealInfo,
} from '../seal.js';
import { snapshotChecksum } from '../snapshot-codec.js';
import { checkSnapshotParts, partitionExtent } from './recovery.js';
import { checkFormatAgrees, checkMeta, openDatabase } from './schema.js';

export interface ResealResult {
  readonly partitions: number;
  readonly batches: number;
  readonly snapshotUnits: number;
  readonly fromKeyId: string | undefined;
  readonly toKeyId: string;
}

/** Batches read at a time: a partition's batches are never all in memory. */
const batchesPerRead = 256;

interface Opened {
  readonly db: Database.Database;
  readonly where: string;
  readonly shard: number;
  /** The partition's seal as stored; undefined when it is not sealed. */
  readonly stored: JournalSealInfo | undefined;
  /** Its format as stored (a reseal keeps the codec: format 3 becomes 4, 5 becomes 6). */
  readonly format: JournalFormat;
}

export async function resealSqlite(dir: string, oldKeys: JournalKeyring, newKey: JournalKey): Promise<ResealResult> {
  const lock = JournalLock.acquire(dir); // no run writes it meanwhile
  const opened: Opened[] = [];
  try {
    const manifest = await existingManifest(dir);
    // The new key opens what an interrupted reseal already sealed with it.
    const keys = [...oldKeys.filter((k) => k.id !== newKey.id), newKey];
    if (manifest.seal) keyForJournal(`journal ${dir}`, manifest.seal, keys);
    for (let shard = 0; shard < manifest.shards; shard++) {
      const where = partitionName(dir, shard);
      const db = openDatabase(partitionPath(dir, shard), where, true);
      const meta = checkMeta(db, where, shard, manifest.shards);
      // The manifest's format, or (after an interrupted reseal) its sealed form: anything else would
      // have its batches decoded with another codec.
      if (meta.format.version !== sealedVersionOf(manifest.formatVersion))
        checkFormatAgrees(where, meta.format.version, manifest.formatVersion);
      opened.push({ db, where, shard, stored: meta.seal, format: meta.format });
    }
    // A first seal cut short left partitions sealed under a journal id the manifest never got.
    const journalId = manifest.seal?.journalId ?? opened.find((o) => o.stored)?.stored?.journalId ?? newJournalSealId();
    const to: JournalSealInfo = { journalId, keyId: newKey.id };
    const sources = opened.map((o) => sourceSeal(o, manifest, to, keys));
    let batches = 0;
    let snapshotUnits = 0;
    opened.forEach((o, i) => {
      const counts = walk(o, sources[i], undefined); // checks everything, writes nothing
      batches += counts.batches;
      snapshotUnits += counts.parts;
    });
    opened.forEach((o, i) => {
      const target = new PartitionSeal(to, o.shard, newKey, [newKey]);
      o.db.transaction(() => {
        walk(o, sources[i], target);
        const meta = o.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
        meta.run('format_version', String(sealedVersionOf(o.format.version)));
        meta.run('seal_journal_id', to.journalId);
        meta.run('seal_key_id', to.keyId);
      })();
    });
    await writeManifest(dir, { ...manifest, formatVersion: sealedVersionOf(manifest.formatVersion), seal: to });
    return { partitions: manifest.shards, batches, snapshotUnits, fromKeyId: manifest.seal?.keyId, toKeyId: to.keyId };
  } finally {
    for (const o of opened) o.db.close();
    lock.release();
  }
}

/**
 * What opens a partition's units now: its journal's seal, or (after an interrupted reseal) the new
 * one; a partition sealed otherwise than either is refused.
 */
function sourceSeal(
  o: Opened,
  manifest: Manifest,
  to: JournalSealInfo,
  keys: JournalKeyring,
): PartitionSeal | undefined {
  const { stored } = o;
  if (stored === undefined) {
    if (manifest.seal) throw sealError(`${o.where}: is not sealed, but its journal is (damaged or edited)`);
    return undefined;
  }
  const known =
    stored.journalId === to.journalId && (stored.keyId === manifest.seal?.keyId || stored.keyId === to.keyId);
  if (!known)
    throw sealError(`${o.where}: is sealed for another journal or key (key id ${stored.keyId}; damaged or edited)`);
  return new PartitionSeal(stored, o.shard, keyForJournal(o.where, stored, keys), keys);
}

/**
 * Reads every batch and snapshot part of a partition, checked whole (as recovery reads them);
 * with `to`, writes each sealed under it. Counts what it went through.
 */
function walk(
  o: Opened,
  from: PartitionSeal | undefined,
  to: PartitionSeal | undefined,
): { batches: number; parts: number } {
  const { db, where } = o;
  partitionExtent(db, where); // gapless sequence numbers
  const read = db.prepare('SELECT * FROM batches WHERE first_seq > ? ORDER BY first_seq LIMIT ?');
  const update = db.prepare('UPDATE batches SET data = ?, crc = ? WHERE first_line = ?');
  let batches = 0;
  let seq = 0;
  for (;;) {
    const rows = read.all(seq, batchesPerRead) as StoredBatch[];
    if (rows.length === 0) break;
    for (const b of rows) {
      // Checksum, authentication and every record: a damaged batch (a torn last one too) is refused.
      decodeCheckedColumns(b, where, o.format.codec, from);
      if (to) {
        const plain = from ? from.open('batch', b.data, batchSealFields(b), where) : b.data;
        const data = to.seal('batch', plain, batchSealFields(b));
        update.run(data, batchChecksum({ ...b, data }), b.first_line);
      }
      seq = b.first_seq;
      batches++;
    }
  }
  let parts = 0;
  const snapshots = db.prepare('SELECT * FROM snapshots ORDER BY seq').all() as {
    seq: number;
    line: number;
    events: number;
    accounts: Buffer;
    crc: number;
    tx_parts: number;
  }[];
  for (const s of snapshots) {
    const unit = `${where}: the snapshot at seq ${s.seq}`;
    if (snapshotChecksum(s.accounts, s.seq, s.line, s.events, s.tx_parts) !== s.crc)
      throw new JournalCorrupt(`${unit} fails its checksum (damaged or edited)`);
    const fields = [s.seq, s.line, s.events, s.tx_parts];
    const accounts = from ? from.open('accounts', s.accounts, fields, unit) : s.accounts;
    if (to) {
      const sealed = to.seal('accounts', accounts, fields);
      db.prepare('UPDATE snapshots SET accounts = ?, crc = ? WHERE seq = ?').run(
        sealed,
        snapshotChecksum(sealed, s.seq, s.line, s.events, s.tx_parts),
        s.seq,
      );
    }
    const txParts = db.prepare('SELECT * FROM snapshot_txs WHERE seq = ? ORDER BY part').all(s.seq) as {
      part: number;
      data: Buffer;
      crc: number;
    }[];
    checkSnapshotParts(
      s.tx_parts,
      txParts.length,
      o.format,
      (what) => new JournalCorrupt(`${unit} ${what} (damaged or edited)`),
    );
    txParts.forEach((p, i) => {
      if (p.part !== i || snapshotChecksum(p.data, s.seq, p.part) !== p.crc)
        throw new JournalCorrupt(`${unit} index part ${i} fails its checksum (damaged or edited)`);
      const plain = from ? from.open('txPart', p.data, [s.seq, i], `${unit} (index part ${i})`) : p.data;
      if (to) {
        const sealed = to.seal('txPart', plain, [s.seq, i]);
        db.prepare('UPDATE snapshot_txs SET data = ?, crc = ? WHERE seq = ? AND part = ?').run(
          sealed,
          snapshotChecksum(sealed, s.seq, i),
          s.seq,
          i,
        );
      }
      parts++;
    });
    parts++;
  }
  return { batches, parts };
}
