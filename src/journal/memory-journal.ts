import { evolveTx, type AccountEvent, type TxRecord } from '../domain/account.js';
import type { Journal } from './journal.js';
import { TxTable } from './tx-table.js';

/**
 * The in-memory journal partition: sequences events and keeps, of their history, only what later
 * commands need (the transaction index). Events themselves are not retained; a durable journal
 * keeps them.
 */
export class MemoryJournal implements Journal {
  private readonly txs = new TxTable();
  private seq = 0;

  append(event: AccountEvent, _line: number): number {
    const opens = event.type === 'Deposited' || event.type === 'Withdrawn';
    this.txs.set(event.tx, evolveTx(opens ? undefined : this.txs.get(event.tx), event));
    return ++this.seq;
  }

  lookupTx(tx: number): TxRecord | undefined {
    return this.txs.get(tx);
  }

  get lastSeq(): number {
    return this.seq;
  }

  get indexBytes(): number {
    return this.txs.bytes;
  }

  get storedTxCount(): number {
    return this.txs.size;
  }
}
