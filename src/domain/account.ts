/**
 * The account decider: commands, events, state, and the two pure functions that hold every business
 * rule of SPEC's "Accounts and transactions". No I/O: live processing, journal replay and tests all
 * run these same functions.
 */
import { inRange } from './money.js';
import type { RejectionReason } from './rejection.js';

// ---- state ----------------------------------------------------------------------------------------

export interface AccountState {
  readonly available: number; // minor units, may be negative after a dispute
  readonly held: number; // minor units, never negative
  readonly locked: boolean;
}

export const initialAccount: AccountState = Object.freeze({ available: 0, held: 0, locked: false });

export function totalOf(account: AccountState): number {
  return account.available + account.held;
}

export type TxKind = 'deposit' | 'withdrawal';
/** A deposit's dispute status machine: processed ⇄ disputed → chargedBack (final). */
export type DisputeStatus = 'processed' | 'disputed' | 'chargedBack';

/** What the journal remembers of an accepted deposit or withdrawal. */
export interface TxRecord {
  readonly client: number;
  readonly kind: TxKind;
  readonly amount: number;
  readonly status: DisputeStatus;
}

// ---- commands (imperative) ------------------------------------------------------------------------

export type AccountCommand =
  | { type: 'Deposit'; client: number; tx: number; amount: number; duplicate: boolean }
  | { type: 'Withdraw'; client: number; tx: number; amount: number; duplicate: boolean }
  | { type: 'OpenDispute'; client: number; tx: number }
  | { type: 'ResolveDispute'; client: number; tx: number }
  | { type: 'ChargeBack'; client: number; tx: number };

// ---- events (past tense) --------------------------------------------------------------------------

export type AccountEvent =
  | { type: 'Deposited'; client: number; tx: number; amount: number }
  | { type: 'Withdrawn'; client: number; tx: number; amount: number }
  | { type: 'DisputeOpened'; client: number; tx: number; amount: number }
  | { type: 'DisputeResolved'; client: number; tx: number; amount: number }
  | { type: 'ChargedBack'; client: number; tx: number; amount: number };

export type Decision = { ok: true; event: AccountEvent } | { ok: false; reason: RejectionReason };

const reject = (reason: RejectionReason): Decision => ({ ok: false, reason });
const accept = (event: AccountEvent): Decision => ({ ok: true, event });

/**
 * decide(command, state) → event | rejection.
 * `account` is the client's current state; `referenced` is the journal's record of the command's tx
 * id (for disputes, resolves and chargebacks), or undefined when none was accepted.
 * Checks run in SPEC's order, with balance_out_of_range last; after them the event must apply.
 */
export function decide(cmd: AccountCommand, account: AccountState, referenced: TxRecord | undefined): Decision {
  switch (cmd.type) {
    case 'Deposit': {
      if (cmd.duplicate) return reject('duplicate_tx');
      const event = { type: 'Deposited', client: cmd.client, tx: cmd.tx, amount: cmd.amount } as const;
      return staysInRange(account, event) ? accept(event) : reject('balance_out_of_range');
    }
    case 'Withdraw': {
      if (cmd.duplicate) return reject('duplicate_tx');
      if (account.locked) return reject('account_locked');
      if (account.available < cmd.amount) return reject('insufficient_funds');
      const event = { type: 'Withdrawn', client: cmd.client, tx: cmd.tx, amount: cmd.amount } as const;
      return staysInRange(account, event) ? accept(event) : reject('balance_out_of_range');
    }
    case 'OpenDispute': {
      if (referenced === undefined || referenced.client !== cmd.client) return reject('unknown_tx');
      if (referenced.kind !== 'deposit') return reject('not_disputable');
      if (referenced.status === 'disputed') return reject('already_disputed');
      if (referenced.status === 'chargedBack') return reject('tx_charged_back');
      const event = { type: 'DisputeOpened', client: cmd.client, tx: cmd.tx, amount: referenced.amount } as const;
      return staysInRange(account, event) ? accept(event) : reject('balance_out_of_range');
    }
    case 'ResolveDispute':
    case 'ChargeBack': {
      if (referenced === undefined || referenced.client !== cmd.client) return reject('unknown_tx');
      if (referenced.kind !== 'deposit' || referenced.status !== 'disputed') return reject('not_disputed');
      const type = cmd.type === 'ResolveDispute' ? 'DisputeResolved' : 'ChargedBack';
      const event = { type, client: cmd.client, tx: cmd.tx, amount: referenced.amount } as const;
      return staysInRange(account, event) ? accept(event) : reject('balance_out_of_range');
    }
    default:
      return assertNever(cmd);
  }
}

/** evolve(state, event) → state: the effect of an accepted event on the client's account. */
export function evolve(account: AccountState, event: AccountEvent): AccountState {
  const { available, held } = balancesAfter(account, event);
  const next = { available, held, locked: account.locked || event.type === 'ChargedBack' };
  assertAccountInvariants(next);
  return next;
}

/** The effect of an event on the referenced transaction's record (the status machine). */
export function evolveTx(record: TxRecord | undefined, event: AccountEvent): TxRecord {
  switch (event.type) {
    case 'Deposited':
      return { client: event.client, kind: 'deposit', amount: event.amount, status: 'processed' };
    case 'Withdrawn':
      return { client: event.client, kind: 'withdrawal', amount: event.amount, status: 'processed' };
    case 'DisputeOpened':
      assertStatus(record, 'processed', event);
      return { ...record!, status: 'disputed' };
    case 'DisputeResolved':
      assertStatus(record, 'disputed', event);
      return { ...record!, status: 'processed' };
    case 'ChargedBack':
      assertStatus(record, 'disputed', event);
      return { ...record!, status: 'chargedBack' };
    default:
      return assertNever(event);
  }
}

function staysInRange(account: AccountState, event: AccountEvent): boolean {
  // Sums of two in-range numbers are exact when in range and land out of range when not
  // (rounding is monotone and 2^53 is representable), so this check is exact.
  const next = balancesAfter(account, event);
  return inRange(next.available) && inRange(next.held) && inRange(next.available + next.held);
}

function balancesAfter(account: AccountState, event: AccountEvent): { available: number; held: number } {
  switch (event.type) {
    case 'Deposited':
      return { available: account.available + event.amount, held: account.held };
    case 'Withdrawn':
      return { available: account.available - event.amount, held: account.held };
    case 'DisputeOpened':
      return { available: account.available - event.amount, held: account.held + event.amount };
    case 'DisputeResolved':
      return { available: account.available + event.amount, held: account.held - event.amount };
    case 'ChargedBack':
      return { available: account.available, held: account.held - event.amount };
    default:
      return assertNever(event);
  }
}

function assertAccountInvariants(account: AccountState): void {
  if (!(account.held >= 0)) throw new Error(`invariant: held ${account.held} < 0`);
  if (!inRange(account.available)) throw new Error(`invariant: available ${account.available} out of range`);
  if (!inRange(account.held)) throw new Error(`invariant: held ${account.held} out of range`);
  if (!inRange(account.available + account.held)) throw new Error('invariant: total out of range');
}

function assertStatus(record: TxRecord | undefined, status: DisputeStatus, event: AccountEvent): void {
  if (record === undefined) throw new Error(`invariant: ${event.type} of unknown tx ${event.tx}`);
  if (record.kind !== 'deposit') throw new Error(`invariant: ${event.type} of a withdrawal (tx ${event.tx})`);
  if (record.status !== status)
    throw new Error(`invariant: ${event.type} of tx ${event.tx} in status ${record.status}`);
}

export function assertNever(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
