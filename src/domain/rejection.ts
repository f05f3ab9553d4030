/**
 * The closed set of rejection reasons (SPEC "Rejection reasons"), in the order SPEC checks them.
 * Their index is the wire code used between threads and in the journal; never reorder, only append.
 */
import { reasonSlots } from '../constants.js';

export const rejectionReasons = [
  'malformed_row',
  'unknown_type',
  'invalid_client',
  'invalid_tx',
  'missing_amount',
  'invalid_amount',
  'duplicate_tx',
  'insufficient_funds',
  'account_locked',
  'unknown_tx',
  'not_disputable',
  'already_disputed',
  'tx_charged_back',
  'not_disputed',
  'balance_out_of_range',
] as const;

export type RejectionReason = (typeof rejectionReasons)[number];

if (reasonSlots <= rejectionReasons.length - 1 || rejectionReasons.length > 255)
  throw new Error('invariant: reasonSlots must exceed every reason code, and codes fit a byte below 255');

const codes = new Map<RejectionReason, number>(rejectionReasons.map((r, i) => [r, i]));

export function reasonCode(reason: RejectionReason): number {
  return codes.get(reason)!;
}

export function reasonOf(code: number): RejectionReason {
  const reason = rejectionReasons[code];
  if (reason === undefined) throw new Error(`unknown rejection code ${code}`);
  return reason;
}
