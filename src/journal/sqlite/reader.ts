/**
 * Read-only access to existing partitions (replay, inspect). Not opened read-only: after a crash
 * SQLite must replay the WAL on open, which a read-only connection cannot; nothing is written.
 */
import type Database from 'better-sqlite3';
import { partitionName, partitionPath } from '../format.js';
import { checkMeta, openDatabase } from './schema.js';

export interface PartitionReader {
  readonly db: Database.Database;
  readonly where: string;
}

/** Opens partition `shard` of a journal of `shards`, checking it is that partition. Close its db after use. */
export function openPartition(dir: string, shard: number, shards: number): PartitionReader {
  const where = partitionName(dir, shard);
  const db = openDatabase(partitionPath(dir, shard), where, true);
  try {
    checkMeta(db, where, shard, shards);
  } catch (error) {
    db.close();
    throw error;
  }
  return { db, where };
}

/** Opens a partition, `use`s it, closes it. */
export function withPartition<T>(dir: string, shard: number, shards: number, use: (reader: PartitionReader) => T): T {
  const reader = openPartition(dir, shard, shards);
  try {
    return use(reader);
  } finally {
    reader.db.close();
  }
}
