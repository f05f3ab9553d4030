/**
 * What every journal partition shares: the sequence counters and the transaction index that
 * disputes look up, kept in step with the records appended. Subclasses decide where records go.
 */
import type { AccountEvent, AccountState, TxRecord } from '../domain/account.js';
import type { Journal, RowRef } from './journal.js';
import { applyToIndex } from './tx-index.js';
import { TxTable } from './tx-table.js';

export abstract class IndexedJournal implements Journal {
  abstract readonly resumeLine: number;
  abstract readonly snapshotDue: boolean;

  protected constructor(
    readonly txs: TxTable,
    protected seq: number,
    protected events: number,
  ) {}

  append(event: AccountEvent, row: RowRef): void {
    applyToIndex(this.txs, event);
    this.seq++;
    this.events++;
    this.recordEvent(event, row);
  }

  appendRejection(reasonCode: number, row: RowRef): void {
    this.seq++;
    this.recordRejection(reasonCode, row);
  }

  lookupTx(tx: number): TxRecord | undefined {
    return this.txs.get(tx);
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

  abstract commit(): void;
  abstract writeSnapshot(accounts: readonly { client: number; state: AccountState }[]): void;
  abstract recordedOutcome(row: RowRef): number;
  protected abstract recordEvent(event: AccountEvent, row: RowRef): void;
  protected abstract recordRejection(reasonCode: number, row: RowRef): void;
}
