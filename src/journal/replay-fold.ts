/**
 * The fold every journal backend's replay shares (replay.ts for SQLite, postgres/run.ts): each
 * partition's newest snapshot at or before the line, then its records after it, through the same
 * evolve as live processing. Pure: the backends read, this applies.
 */
import { evolve, initialAccount, type AccountState } from '../domain/account.js';
import type { AccountEntry, JournalRecord } from '../engine/journal-port.js';
import type { Manifest } from './manifest.js';

export interface ReplayResult {
  readonly accounts: Map<number, AccountState>;
  readonly partitions: number;
  readonly recordsReplayed: number;
  /** The last input line each partition recorded. */
  readonly lastLines: readonly number[];
  /** The journal's run did not finish (the manifest says so). */
  readonly unfinished: boolean;
  /** Every line up to here is in every partition: all of them for a finished run. */
  readonly completeThrough: number;
}

/**
 * How far every partition is known to hold the run: a finished run, all of it; an unfinished one,
 * the line the manifest last recorded as applied by every shard, or the partition that got least
 * far, whichever is later. Past it, a partition may lack rows of its shard the run never reached.
 */
export function completeThrough(manifest: Manifest, lastLines: readonly number[]): number {
  if (manifest.complete) return Number.POSITIVE_INFINITY;
  return Math.max(manifest.committedLine, Math.min(...lastLines));
}

export class AccountReplay {
  private readonly accounts = new Map<number, AccountState>();
  private readonly lastLines: number[] = [];
  private recordsReplayed = 0;

  /** A partition begins: its last line, and the accounts of its snapshot (if any). */
  partition(lastLine: number, snapshotAccounts: readonly AccountEntry[] = []): void {
    this.lastLines.push(lastLine);
    for (const { client, state } of snapshotAccounts) this.accounts.set(client, state);
  }

  apply(record: JournalRecord): void {
    const account = this.accounts.get(record.client) ?? initialAccount;
    // A rejected row still opened the account.
    this.accounts.set(record.client, record.event ? evolve(account, record.event) : account);
    this.recordsReplayed++;
  }

  result(manifest: Manifest): ReplayResult {
    return {
      accounts: this.accounts,
      partitions: manifest.shards,
      recordsReplayed: this.recordsReplayed,
      lastLines: this.lastLines,
      unfinished: !manifest.complete,
      completeThrough: completeThrough(manifest, this.lastLines),
    };
  }
}
