/**
 * A journal partition: the ordered record of one shard's events. The engine appends every accepted
 * event (with the input line that caused it) and reads back the transactions that disputes refer to.
 * Implementations: MemoryJournal (default) and the durable SQLite journal.
 */
import type { AccountEvent, TxRecord } from '../domain/account.js';

export interface Journal {
  /** Appends an accepted event; returns its sequence number in this partition (1, 2, 3, … no gaps). */
  append(event: AccountEvent, line: number): number;
  /** The accepted deposit or withdrawal with this tx id, as the events so far left it. */
  lookupTx(tx: number): TxRecord | undefined;
  /** Sequence number of the last appended event (0 when empty). */
  readonly lastSeq: number;
  /** Bytes the journal holds in memory for look-ups. */
  readonly indexBytes: number;
  readonly storedTxCount: number;
}
