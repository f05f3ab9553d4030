/**
 * Accounts rebuilt from a journal alone, as they stood after input line N (default: everything the
 * partitions hold), through the same evolve as live processing. How far a run got is read from the
 * partitions themselves, not from the manifest's committedLine (which lags by up to a second).
 */
import { evolve, initialAccount, type AccountState } from '../domain/account.js';
import { JournalCorrupt } from '../errors.js';
import { readManifest, type Manifest } from './manifest.js';
import { partitionExtent, readSnapshot, readTail } from './sqlite/recovery.js';
import { withPartition } from './sqlite/reader.js';
import { isPostgresUrl } from './postgres/url.js';

export interface ReplayResult {
  readonly accounts: Map<number, AccountState>;
  readonly partitions: number;
  readonly recordsReplayed: number;
  /** The last input line each partition recorded. */
  readonly lastLines: readonly number[];
  /** The journal's run did not finish (the manifest says so). */
  readonly unfinished: boolean;
}

/** The manifest of an existing journal, or a usage-level error when there is none. */
export async function existingManifest(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest === undefined)
    throw new JournalCorrupt(`${dir}: no journal here (no manifest.json); write one with --journal`);
  return manifest;
}

export async function replayJournal(dir: string, asOfLine = Number.POSITIVE_INFINITY): Promise<ReplayResult> {
  if (isPostgresUrl(dir)) return (await import('./postgres/run.js')).replayPostgres(dir, asOfLine);
  const manifest = await existingManifest(dir);
  const accounts = new Map<number, AccountState>();
  const lastLines: number[] = [];
  let recordsReplayed = 0;
  for (let shard = 0; shard < manifest.shards; shard++) {
    withPartition(dir, shard, manifest.shards, ({ db, where }) => {
      lastLines.push(partitionExtent(db, where).lastLine);
      const snapshot = readSnapshot(db, where, asOfLine);
      for (const { client, state } of snapshot?.accounts ?? []) accounts.set(client, state);
      for (const record of readTail(db, where, snapshot?.seq ?? 0, asOfLine)) {
        const account = accounts.get(record.client) ?? initialAccount;
        // A rejected row still opened the account.
        accounts.set(record.client, record.event ? evolve(account, record.event) : account);
        recordsReplayed++;
      }
    });
  }
  return { accounts, partitions: manifest.shards, recordsReplayed, lastLines, unfinished: !manifest.complete };
}
