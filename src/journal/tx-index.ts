import { evolveTx, type AccountEvent } from '../domain/account.js';
import type { TxTable } from './tx-table.js';

/** The effect of an accepted event on the transaction index (evolveTx on the stored record). */
export function applyToIndex(txs: TxTable, event: AccountEvent): void {
  const opens = event.type === 'Deposited' || event.type === 'Withdrawn';
  txs.set(event.tx, evolveTx(opens ? undefined : txs.get(event.tx), event));
}
