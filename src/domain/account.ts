/**
 * The account decider: commands, events, state, and the two pure functions that hold every business
 * rule of SPEC's "Accounts and transactions". No I/O: live processing, journal replay and tests all
 * run these same functions.
 */
import { inRange } from './money.js';
import { reasonCode, reasonOf, type RejectionReason } from './rejection.js';
import { TxTypeCode } from './transaction.js';

// ---- state ----------------------------------------------------------------------------------------

export interface AccountState {
  readonly available: number; // minor units, may be negative after a dispute
  readonly held: number; // minor units, never negative
  readonly locked: boolean;
}

export const initialAccount: AccountState = Object.freeze({ available: 0, held: 0, locked: false });

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

// ---- the rules on plain numbers -------------------------------------------------------------------
// The engine runs the rules once per row: in this form they allocate nothing (no command, decision,
// event or state object). `decide`, `evolve` and `evolveTx` below are these same functions behind
// the object API that tests, replay and the journal speak; the rules are written once, here.

/** Event kinds as codes (the journal's record kinds use the same numbers). */
export const EventCode = { Deposited: 0, Withdrawn: 1, DisputeOpened: 2, DisputeResolved: 3, ChargedBack: 4 } as const;
const eventTypes = ['Deposited', 'Withdrawn', 'DisputeOpened', 'DisputeResolved', 'ChargedBack'] as const;
/** Command kinds as codes: the row's type code (deposit 0 … chargeback 4, SPEC's type table). */
export const CommandCode = { Deposit: 0, Withdraw: 1, OpenDispute: 2, ResolveDispute: 3, ChargeBack: 4 } as const;
const commandTypes = ['Deposit', 'Withdraw', 'OpenDispute', 'ResolveDispute', 'ChargeBack'] as const;
// The engine hands a batch row's type code to decideCode as the command kind: they must agree.
if (
  CommandCode.Deposit !== TxTypeCode.deposit ||
  CommandCode.Withdraw !== TxTypeCode.withdrawal ||
  CommandCode.OpenDispute !== TxTypeCode.dispute ||
  CommandCode.ResolveDispute !== TxTypeCode.resolve ||
  CommandCode.ChargeBack !== TxTypeCode.chargeback
)
  throw new Error('invariant: command codes must be the type codes');
/** Dispute status codes of a stored transaction. */
export const StatusCode = { processed: 0, disputed: 1, chargedBack: 2 } as const;
const statuses: readonly DisputeStatus[] = ['processed', 'disputed', 'chargedBack'];
/** `refClient` when the referenced tx has no record. */
export const noRecord = -1;

/** A decision as one number: an EventCode (≥ 0), or rejectedCode(reason) (< 0). */
export type DecisionCode = number;
const rejectedCode = (reason: RejectionReason): DecisionCode => -1 - reasonCode(reason);
/** The reason code of a rejected DecisionCode. */
export const reasonCodeOf = (code: DecisionCode): number => -1 - code;

const duplicateTx = rejectedCode('duplicate_tx');
const accountLocked = rejectedCode('account_locked');
const insufficientFunds = rejectedCode('insufficient_funds');
const unknownTx = rejectedCode('unknown_tx');
const notDisputable = rejectedCode('not_disputable');
const alreadyDisputed = rejectedCode('already_disputed');
const txChargedBack = rejectedCode('tx_charged_back');
const notDisputed = rejectedCode('not_disputed');
const balanceOutOfRange = rejectedCode('balance_out_of_range');

/**
 * decide on numbers: the command (kind, client, amount, duplicate flag), the account (available,
 * held, locked) and the referenced transaction's record (refClient = noRecord when there is none;
 * refWithdrawal, refStatus, refAmount). Checks run in SPEC's order, balance_out_of_range last.
 * The accepted event's amount is eventAmount(kind, amount, refAmount).
 */
export function decideCode(
  kind: number,
  client: number,
  amount: number,
  duplicate: boolean,
  available: number,
  held: number,
  locked: boolean,
  refClient: number,
  refWithdrawal: boolean,
  refStatus: number,
  refAmount: number,
): DecisionCode {
  let event: number;
  switch (kind) {
    case CommandCode.Deposit:
      if (duplicate) return duplicateTx;
      event = EventCode.Deposited;
      break;
    case CommandCode.Withdraw:
      if (duplicate) return duplicateTx;
      if (locked) return accountLocked;
      if (available < amount) return insufficientFunds;
      event = EventCode.Withdrawn;
      break;
    case CommandCode.OpenDispute:
      if (refClient !== client) return unknownTx; // also when there is no record (noRecord)
      if (refWithdrawal) return notDisputable;
      if (refStatus === StatusCode.disputed) return alreadyDisputed;
      if (refStatus === StatusCode.chargedBack) return txChargedBack;
      event = EventCode.DisputeOpened;
      break;
    case CommandCode.ResolveDispute:
    case CommandCode.ChargeBack:
      if (refClient !== client) return unknownTx;
      if (refWithdrawal || refStatus !== StatusCode.disputed) return notDisputed;
      event = kind === CommandCode.ResolveDispute ? EventCode.DisputeResolved : EventCode.ChargedBack;
      break;
    default:
      throw new Error(`invariant: unknown command kind ${kind}`);
  }
  // Sums of two in-range numbers are exact when in range and land out of range when not
  // (rounding is monotone and 2^53 is representable), so this check is exact.
  const moved = eventAmount(event, amount, refAmount);
  const nextAvailable = availableAfter(event, available, moved);
  const nextHeld = heldAfter(event, held, moved);
  return inRange(nextAvailable) && inRange(nextHeld) && inRange(nextAvailable + nextHeld) ? event : balanceOutOfRange;
}

/** The amount an event moves: the row's for deposits and withdrawals, the deposit's for disputes. */
export function eventAmount(event: number, amount: number, refAmount: number): number {
  return event <= EventCode.Withdrawn ? amount : refAmount;
}

/** evolve on numbers: the available balance after an event. */
export function availableAfter(event: number, available: number, amount: number): number {
  switch (event) {
    case EventCode.Deposited:
    case EventCode.DisputeResolved:
      return available + amount;
    case EventCode.Withdrawn:
    case EventCode.DisputeOpened:
      return available - amount;
    default:
      return available;
  }
}

/** evolve on numbers: the held balance after an event. */
export function heldAfter(event: number, held: number, amount: number): number {
  switch (event) {
    case EventCode.DisputeOpened:
      return held + amount;
    case EventCode.DisputeResolved:
    case EventCode.ChargedBack:
      return held - amount;
    default:
      return held;
  }
}

/** evolve on numbers: locked after an event (a chargeback locks, nothing unlocks). */
export function lockedAfter(event: number, locked: boolean): boolean {
  return locked || event === EventCode.ChargedBack;
}

/**
 * evolveTx on numbers: the referenced record's dispute status after an event (deposits and
 * withdrawals start `processed`). Asserts the status machine: processed ⇄ disputed → chargedBack.
 */
export function statusAfter(
  event: number,
  tx: number,
  refClient: number,
  refWithdrawal: boolean,
  refStatus: number,
): number {
  if (event <= EventCode.Withdrawn) return StatusCode.processed;
  const from = event === EventCode.DisputeOpened ? StatusCode.processed : StatusCode.disputed;
  if (refClient === noRecord || refWithdrawal || refStatus !== from)
    statusBroken(event, tx, refClient, refWithdrawal, refStatus);
  return event === EventCode.DisputeOpened
    ? StatusCode.disputed
    : event === EventCode.DisputeResolved
      ? StatusCode.processed
      : StatusCode.chargedBack;
}

/** statusAfter's failure, out of line (see assertBalances). */
function statusBroken(event: number, tx: number, refClient: number, refWithdrawal: boolean, refStatus: number): never {
  const type = eventTypes[event]!;
  if (refClient === noRecord) throw new Error(`invariant: ${type} of unknown tx ${tx}`);
  if (refWithdrawal) throw new Error(`invariant: ${type} of a withdrawal (tx ${tx})`);
  throw new Error(`invariant: ${type} of tx ${tx} in status ${statuses[refStatus]}`);
}

/**
 * The account invariants, as plain comparisons (cheap enough to stay on for every event). The
 * message is built out of line, so that this stays small enough for the JIT to inline into the
 * engine's per-row step (measured: as one function it was not inlined and cost ~8% of a worker).
 */
export function assertBalances(available: number, held: number): void {
  if (!(held >= 0 && inRange(available) && inRange(held) && inRange(available + held))) balancesBroken(available, held);
}

function balancesBroken(available: number, held: number): never {
  if (!(held >= 0)) throw new Error(`invariant: held ${held} < 0`);
  if (!inRange(available)) throw new Error(`invariant: available ${available} out of range`);
  if (!inRange(held)) throw new Error(`invariant: held ${held} out of range`);
  throw new Error('invariant: total out of range');
}

// ---- the object API over the same rules -----------------------------------------------------------

/**
 * decide(command, state) → event | rejection.
 * `account` is the client's current state; `referenced` is the journal's record of the command's tx
 * id (for disputes, resolves and chargebacks), or undefined when none was accepted.
 */
export function decide(cmd: AccountCommand, account: AccountState, referenced: TxRecord | undefined): Decision {
  const kind = commandTypes.indexOf(cmd.type);
  if (kind < 0) return assertNever(cmd as never);
  const carries = cmd.type === 'Deposit' || cmd.type === 'Withdraw';
  const code = decideCode(
    kind,
    cmd.client,
    carries ? cmd.amount : 0,
    carries ? cmd.duplicate : false,
    account.available,
    account.held,
    account.locked,
    referenced === undefined ? noRecord : referenced.client,
    referenced?.kind === 'withdrawal',
    referenced === undefined ? 0 : StatusCode[referenced.status],
    referenced === undefined ? 0 : referenced.amount,
  );
  if (code < 0) return { ok: false, reason: reasonOf(reasonCodeOf(code)) };
  const amount = eventAmount(code, carries ? cmd.amount : 0, referenced?.amount ?? 0);
  return { ok: true, event: { type: eventTypes[code]!, client: cmd.client, tx: cmd.tx, amount } };
}

/** evolve(state, event) → state: the effect of an accepted event on the client's account. */
export function evolve(account: AccountState, event: AccountEvent): AccountState {
  const code = eventCodeOf(event);
  const next = {
    available: availableAfter(code, account.available, event.amount),
    held: heldAfter(code, account.held, event.amount),
    locked: lockedAfter(code, account.locked),
  };
  assertBalances(next.available, next.held);
  return next;
}

/** The effect of an event on the referenced transaction's record (the status machine). */
export function evolveTx(record: TxRecord | undefined, event: AccountEvent): TxRecord {
  const code = eventCodeOf(event);
  const status =
    statuses[
      statusAfter(
        code,
        event.tx,
        record === undefined ? noRecord : record.client,
        record?.kind === 'withdrawal',
        record === undefined ? 0 : StatusCode[record.status],
      )
    ]!;
  if (code === EventCode.Deposited) return { client: event.client, kind: 'deposit', amount: event.amount, status };
  if (code === EventCode.Withdrawn) return { client: event.client, kind: 'withdrawal', amount: event.amount, status };
  return { ...record!, status };
}

/** The event object of an EventCode (for the journal, which records events as objects). */
export function eventOf(code: number, client: number, tx: number, amount: number): AccountEvent {
  return { type: eventTypes[code]!, client, tx, amount };
}

export function eventCodeOf(event: AccountEvent): number {
  const code = eventTypes.indexOf(event.type);
  if (code < 0) return assertNever(event as never);
  return code;
}

function assertNever(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
