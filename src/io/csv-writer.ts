/** The two outputs of SPEC "Output": the accounts CSV and the rejected-rows CSV. */
import { formatUnits } from '../domain/money.js';

const accountsHeader = 'client,available,held,total,locked\n';
export const rejectsHeader = 'line,type,client,tx,amount,reason\n';

export interface AccountRow {
  client: number;
  available: number;
  held: number;
  locked: boolean;
}

function formatAccount(a: AccountRow): string {
  return `${a.client},${formatUnits(a.available)},${formatUnits(a.held)},${formatUnits(a.available + a.held)},${a.locked}\n`;
}

/** Accounts sorted by client id, every line ending in `\n`, header always present. */
export function formatAccounts(accounts: readonly AccountRow[]): string {
  const sorted = [...accounts].sort((a, b) => a.client - b.client);
  return accountsHeader + sorted.map(formatAccount).join('');
}

export function formatRejection(line: number, fields: readonly string[], reason: string): string {
  return `${line},${fields.map(csvField).join(',')},${reason}\n`;
}

/** RFC 4180: quote only a field holding `,`, `"`, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
