/**
 * A journal partition: the ordered record of one shard's history. The engine appends the outcome of
 * every row it applies (an accepted event, or a rejection, which still opens the account) and reads
 * back the transactions that disputes refer to. `commit` ends a batch: what was appended since the
 * last commit becomes durable together or not at all.
 *
 * Implementations: MemoryJournal (default; keeps only the look-up index) and SqliteJournal (durable,
 * with resume, replay and snapshots). A server-backed journal would implement the same interface.
 */
import type { AccountEvent, AccountState, TxRecord } from '../domain/account.js';

/** The input row a record answers, as the engine saw it. */
export interface RowRef {
  readonly line: number;
  readonly typeCode: number;
  readonly client: number;
  readonly tx: number;
  readonly amount: number;
}

export interface Journal {
  append(event: AccountEvent, row: RowRef): void;
  appendRejection(reasonCode: number, row: RowRef): void;
  /** The accepted deposit or withdrawal with this tx id, as the events so far left it. */
  lookupTx(tx: number): TxRecord | undefined;
  commit(): void;
  /** Whether enough records accumulated since the last snapshot to write one now. */
  readonly snapshotDue: boolean;
  writeSnapshot(accounts: readonly { client: number; state: AccountState }[]): void;
  /**
   * Rows up to this input line were applied by an earlier run: the engine must not apply them again
   * and reports what the journal recorded for them instead (0 for a fresh journal).
   */
  readonly resumeLine: number;
  /** The recorded outcome of a row at or before resumeLine: -1 if accepted, else the reason code. */
  recordedOutcome(row: RowRef): number;
  /** Records appended so far (events and rejections), over every run of this journal. */
  readonly lastSeq: number;
  /** Accepted events among them. */
  readonly eventCount: number;
  readonly indexBytes: number;
  readonly storedTxCount: number;
}
