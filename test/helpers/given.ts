/**
 * given/when/then for the decider: `given(events…).when(command).then(event)` or `.thenRejected(reason)`.
 * The state is built only through evolve/evolveTx, exactly as the engine and journal replay build it.
 */
import { expect } from 'vitest';
import {
  decide,
  evolve,
  evolveTx,
  initialAccount,
  type AccountCommand,
  type AccountEvent,
  type AccountState,
  type TxRecord,
} from '../../src/domain/account.js';
import { unitsOf } from '../../src/domain/money-reference.js';
import type { RejectionReason } from '../../src/domain/rejection.js';

const client = 1;

export function given(...history: AccountEvent[]) {
  let account: AccountState = initialAccount;
  const txs = new Map<number, TxRecord>();
  for (const event of history) {
    account = evolve(account, event);
    txs.set(event.tx, evolveTx(txs.get(event.tx), event));
  }
  return {
    account,
    when(cmd: AccountCommand) {
      const decision = decide(
        cmd,
        account,
        cmd.type === 'Deposit' || cmd.type === 'Withdraw' ? undefined : txs.get(cmd.tx),
      );
      return {
        then(expected: AccountEvent, after?: Partial<AccountState>) {
          expect(decision).toEqual({ ok: true, event: expected });
          if (after && decision.ok) expect(evolve(account, decision.event)).toMatchObject(after);
        },
        thenRejected(reason: RejectionReason) {
          expect(decision).toEqual({ ok: false, reason });
        },
      };
    },
  };
}

// Events and commands of client 1 (or `who`), amounts as decimal text.
export const deposited = (tx: number, amount: string, who = client): AccountEvent => ({
  type: 'Deposited',
  client: who,
  tx,
  amount: unitsOf(amount),
});
export const withdrawn = (tx: number, amount: string, who = client): AccountEvent => ({
  type: 'Withdrawn',
  client: who,
  tx,
  amount: unitsOf(amount),
});
export const disputeOpened = (tx: number, amount: string): AccountEvent => ({
  type: 'DisputeOpened',
  client,
  tx,
  amount: unitsOf(amount),
});
export const disputeResolved = (tx: number, amount: string): AccountEvent => ({
  type: 'DisputeResolved',
  client,
  tx,
  amount: unitsOf(amount),
});
export const chargedBack = (tx: number, amount: string): AccountEvent => ({
  type: 'ChargedBack',
  client,
  tx,
  amount: unitsOf(amount),
});

export const deposit = (tx: number, amount: string, duplicate = false): AccountCommand => ({
  type: 'Deposit',
  client,
  tx,
  amount: unitsOf(amount),
  duplicate,
});
export const withdraw = (tx: number, amount: string, duplicate = false): AccountCommand => ({
  type: 'Withdraw',
  client,
  tx,
  amount: unitsOf(amount),
  duplicate,
});
export const dispute = (tx: number): AccountCommand => ({ type: 'OpenDispute', client, tx });
export const resolve = (tx: number): AccountCommand => ({ type: 'ResolveDispute', client, tx });
export const chargeback = (tx: number): AccountCommand => ({ type: 'ChargeBack', client, tx });
