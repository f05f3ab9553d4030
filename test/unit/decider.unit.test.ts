import { describe, expect, it } from 'vitest';
import { evolve, initialAccount } from '../../src/domain/account.js';
import { unitsMax } from '../../src/domain/money.js';
import {
  chargeback,
  chargedBack,
  deposit,
  deposited,
  dispute,
  disputeOpened,
  disputeResolved,
  given,
  resolve,
  withdraw,
  withdrawn,
} from '../helpers/given.js';

const max = '900719925474.0991'; // 2^53 - 1 minor units

describe('a new account', () => {
  it('accepts a deposit into available', () =>
    given().when(deposit(1, '1.5')).then(deposited(1, '1.5'), { available: 15000, held: 0, locked: false }));
  it('rejects a deposit that reuses a tx id as duplicate_tx', () =>
    given()
      .when(deposit(1, '1', true))
      .thenRejected('duplicate_tx'));
  it('rejects a withdrawal above available as insufficient_funds', () =>
    given().when(withdraw(1, '0.0001')).thenRejected('insufficient_funds'));
  it('rejects a dispute of an unknown tx as unknown_tx', () => given().when(dispute(9)).thenRejected('unknown_tx'));
  it('rejects a resolve of an unknown tx as unknown_tx', () => given().when(resolve(9)).thenRejected('unknown_tx'));
  it('rejects a chargeback of an unknown tx as unknown_tx', () =>
    given().when(chargeback(9)).thenRejected('unknown_tx'));
});

describe('an account with funds', () => {
  const funded = () => given(deposited(1, '10'));
  it('withdraws down to exactly zero', () =>
    funded().when(withdraw(2, '10')).then(withdrawn(2, '10'), { available: 0 }));
  it('rejects a withdrawal one minor unit too large', () =>
    funded().when(withdraw(2, '10.0001')).thenRejected('insufficient_funds'));
  it('checks duplicate_tx before insufficient_funds', () =>
    funded()
      .when(withdraw(2, '1000', true))
      .thenRejected('duplicate_tx'));
  it('rejects a deposit that would pass 2^53 minor units as balance_out_of_range', () =>
    given(deposited(1, max)).when(deposit(2, '0.0001')).thenRejected('balance_out_of_range'));
  it('accepts a deposit that reaches exactly the largest balance', () =>
    given(deposited(1, '900719925474'))
      .when(deposit(2, '0.0991'))
      .then(deposited(2, '0.0991'), { available: unitsMax }));
});

describe('a settled deposit', () => {
  const settled = () => given(deposited(1, '1.5'));
  it('is held when disputed', () =>
    settled().when(dispute(1)).then(disputeOpened(1, '1.5'), { available: 0, held: 15000 }));
  it('cannot be resolved before a dispute', () => settled().when(resolve(1)).thenRejected('not_disputed'));
  it('cannot be charged back before a dispute', () => settled().when(chargeback(1)).thenRejected('not_disputed'));
  it('is unknown_tx to another client', () => {
    const other = given(deposited(1, '1.5', 2));
    other.when(dispute(1)).thenRejected('unknown_tx');
    other.when(resolve(1)).thenRejected('unknown_tx');
    other.when(chargeback(1)).thenRejected('unknown_tx');
  });
  it('may be disputed after the funds were withdrawn, taking available below zero', () =>
    given(deposited(1, '10'), withdrawn(2, '7.5'))
      .when(dispute(1))
      .then(disputeOpened(1, '10'), { available: -75000, held: 100000 }));
});

describe('a withdrawal', () => {
  const withdrawal = () => given(deposited(1, '5'), withdrawn(2, '1'));
  it('is not_disputable', () => withdrawal().when(dispute(2)).thenRejected('not_disputable'));
  it('cannot be resolved (not_disputed)', () => withdrawal().when(resolve(2)).thenRejected('not_disputed'));
  it('cannot be charged back (not_disputed)', () => withdrawal().when(chargeback(2)).thenRejected('not_disputed'));
  it('of another client is unknown_tx, not not_disputable', () =>
    given(withdrawn(2, '1', 7))
      .when(dispute(2))
      .thenRejected('unknown_tx'));
});

describe('a disputed deposit', () => {
  const disputed = () => given(deposited(1, '2'), disputeOpened(1, '2'));
  it('cannot be disputed again (already_disputed)', () => disputed().when(dispute(1)).thenRejected('already_disputed'));
  it('is released by a resolve', () =>
    disputed().when(resolve(1)).then(disputeResolved(1, '2'), { available: 20000, held: 0 }));
  it('is removed by a chargeback, which locks the account', () =>
    disputed().when(chargeback(1)).then(chargedBack(1, '2'), { available: 0, held: 0, locked: true }));
  it('may be disputed again after a resolve', () =>
    given(deposited(1, '2'), disputeOpened(1, '2'), disputeResolved(1, '2'))
      .when(dispute(1))
      .then(disputeOpened(1, '2')));
});

describe('a charged-back deposit', () => {
  const chargedBackDeposit = () => given(deposited(1, '2'), disputeOpened(1, '2'), chargedBack(1, '2'));
  it('cannot be disputed again (tx_charged_back)', () =>
    chargedBackDeposit().when(dispute(1)).thenRejected('tx_charged_back'));
  it('cannot be resolved (not_disputed)', () => chargedBackDeposit().when(resolve(1)).thenRejected('not_disputed'));
  it('cannot be charged back twice (not_disputed)', () =>
    chargedBackDeposit().when(chargeback(1)).thenRejected('not_disputed'));
});

describe('a locked account', () => {
  const locked = () => given(deposited(1, '5'), deposited(2, '3'), disputeOpened(1, '5'), chargedBack(1, '5'));
  it('still accepts deposits', () =>
    locked().when(deposit(3, '1')).then(deposited(3, '1'), { available: 40000, locked: true }));
  it('rejects withdrawals as account_locked', () => locked().when(withdraw(3, '1')).thenRejected('account_locked'));
  it('checks duplicate_tx before account_locked', () =>
    locked()
      .when(withdraw(3, '1', true))
      .thenRejected('duplicate_tx'));
  it('checks account_locked before insufficient_funds', () =>
    locked().when(withdraw(3, '1000')).thenRejected('account_locked'));
  it('still opens disputes', () => locked().when(dispute(2)).then(disputeOpened(2, '3')));
  it('still resolves and charges back', () => {
    const held = given(
      deposited(1, '5'),
      deposited(2, '3'),
      disputeOpened(1, '5'),
      chargedBack(1, '5'),
      disputeOpened(2, '3'),
    );
    held.when(resolve(2)).then(disputeResolved(2, '3'));
    held.when(chargeback(2)).then(chargedBack(2, '3'));
  });
});

describe('balance_out_of_range', () => {
  // Deposit the largest amount and withdraw it again: total 0, and a dispute of it holds 2^53 - 1.
  const drained = [deposited(1, max), withdrawn(2, max)];
  it('allows a dispute that takes available to exactly -(2^53 - 1)', () =>
    given(...drained)
      .when(dispute(1))
      .then(disputeOpened(1, max), { available: -unitsMax, held: unitsMax }));
  it('rejects a dispute that would take available below -(2^53 - 1)', () =>
    given(...drained, deposited(3, '0.0001'), withdrawn(4, '0.0001'), disputeOpened(1, max))
      .when(dispute(3))
      .thenRejected('balance_out_of_range'));
  it('rejects a dispute that would take held above 2^53 - 1', () =>
    given(...drained, disputeOpened(1, max), deposited(3, max))
      .when(dispute(3))
      .thenRejected('balance_out_of_range'));
  it('is checked after every other rule', () =>
    given(deposited(1, max))
      .when(deposit(2, '1', true))
      .thenRejected('duplicate_tx'));
});

describe('evolve', () => {
  it('keeps total = available + held and never lets held go below zero', () => {
    expect(() => evolve(initialAccount, { type: 'DisputeResolved', client: 1, tx: 1, amount: 1 })).toThrow(/held/);
  });
});
