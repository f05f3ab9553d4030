/** Transaction types as read from the input, with their wire codes (index; never reorder). */
export const txTypes = ['deposit', 'withdrawal', 'dispute', 'resolve', 'chargeback'] as const;
export type TxType = (typeof txTypes)[number];

export const TxTypeCode = { deposit: 0, withdrawal: 1, dispute: 2, resolve: 3, chargeback: 4 } as const;

/** Code of a type name in any case, or -1. */
export function txTypeCode(name: string): number {
  switch (name) {
    case 'deposit':
      return 0;
    case 'withdrawal':
      return 1;
    case 'dispute':
      return 2;
    case 'resolve':
      return 3;
    case 'chargeback':
      return 4;
  }
  const lower = name.toLowerCase();
  return lower === name ? -1 : txTypeCode(lower);
}

/** Deposits and withdrawals carry an amount and a globally unique tx id. */
export function carriesAmount(typeCode: number): boolean {
  return typeCode <= TxTypeCode.withdrawal;
}
