import { evolveTx, type AccountEvent, type TxRecord } from '../domain/account.js';
import type { Journal, RowRef } from './journal.js';
import { TxTable } from './tx-table.js';

/**
 * The in-memory journal partition: sequences records and keeps, of their history, only what later
 * commands need (the transaction index). Records themselves are not retained; SqliteJournal keeps them.
 */
export class MemoryJournal implements Journal {
  readonly txs: TxTable;
  private seq = 0;
  private events = 0;
  readonly resumeLine: number = 0;

  constructor(txs = new TxTable()) {
    this.txs = txs;
  }

  append(event: AccountEvent, _row: RowRef): void {
    applyToIndex(this.txs, event);
    this.seq++;
    this.events++;
  }

  appendRejection(_reason: number, _row: RowRef): void {
    this.seq++;
  }

  lookupTx(tx: number): TxRecord | undefined {
    return this.txs.get(tx);
  }

  commit(): void {}

  readonly snapshotDue = false;

  writeSnapshot(): void {}

  recordedOutcome(row: RowRef): number {
    throw new Error(`invariant: the memory journal has nothing recorded for line ${row.line}`);
  }

  get lastSeq(): number {
    return this.seq;
  }

  get eventCount(): number {
    return this.events;
  }

  get indexBytes(): number {
    return this.txs.bytes;
  }

  get storedTxCount(): number {
    return this.txs.size;
  }
}

/** The effect of an accepted event on the transaction index (evolveTx on the stored record). */
export function applyToIndex(txs: TxTable, event: AccountEvent): void {
  const opens = event.type === 'Deposited' || event.type === 'Withdrawn';
  txs.set(event.tx, evolveTx(opens ? undefined : txs.get(event.tx), event));
}
