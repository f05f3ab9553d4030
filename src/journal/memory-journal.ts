import type { RowRef } from './journal.js';
import { IndexedJournal } from './indexed-journal.js';
import { TxTable } from './tx-table.js';

/**
 * The in-memory journal partition: sequences records and keeps, of their history, only what later
 * rows need (the transaction index). Records themselves are not retained; SqliteJournal keeps them.
 */
export class MemoryJournal extends IndexedJournal {
  readonly resumeLine = 0;
  readonly snapshotDue = false;

  constructor() {
    super(new TxTable(), 0, 0);
  }

  commit(): void {}
  writeSnapshot(): void {}
  protected recordEvent(): void {}
  protected recordRejection(): void {}

  recordedOutcome(row: RowRef): number {
    throw new Error(`invariant: the memory journal has nothing recorded for line ${row.line}`);
  }
}
