/**
 * Transaction types as read from the input: one table for each type's name, wire code (its index;
 * never reorder, only append) and whether it carries an amount and a globally unique tx id.
 */
import { duplicateFlag } from '../constants.js';
import { asciiLowerCase } from '../text.js';

const typeTable = [
  { name: 'deposit', carriesAmount: true },
  { name: 'withdrawal', carriesAmount: true },
  { name: 'dispute', carriesAmount: false },
  { name: 'resolve', carriesAmount: false },
  { name: 'chargeback', carriesAmount: false },
] as const;

export type TxType = (typeof typeTable)[number]['name'];
export const txTypes: readonly TxType[] = typeTable.map((t) => t.name);

export const TxTypeCode = { deposit: 0, withdrawal: 1, dispute: 2, resolve: 3, chargeback: 4 } as const;
for (const [name, code] of Object.entries(TxTypeCode))
  if (txTypes[code] !== name) throw new Error(`invariant: TxTypeCode.${name} is not its index in the type table`);

/** The largest type code. */
const txTypeCodeMax = typeTable.length - 1;
if (duplicateFlag <= txTypeCodeMax) throw new Error('invariant: duplicateFlag must sit above every type code');

const codesByName = new Map<string, number>(txTypes.map((name, code) => [name, code]));
const amountCarriers = Uint8Array.from(typeTable, (t) => (t.carriesAmount ? 1 : 0));

/** Code of a type name in any ASCII case (a non-ASCII look-alike is no type: see text.ts), or -1. */
export function txTypeCode(name: string): number {
  const code = codesByName.get(name);
  if (code !== undefined) return code;
  const lower = asciiLowerCase(name);
  return lower === name ? -1 : (codesByName.get(lower) ?? -1);
}

/** Deposits and withdrawals carry an amount and a globally unique tx id. */
export function carriesAmount(typeCode: number): boolean {
  return amountCarriers[typeCode] === 1;
}
