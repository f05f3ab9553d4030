/** A transaction record's client, kind and status packed in one u32 (0 means "no record"). */
import { StatusCode, type DisputeStatus, type TxKind, type TxRecord } from '../domain/account.js';

// bit 0 present, bit 1 withdrawal, bits 2-3 status, bits 8-23 client
const present = 1;
const withdrawalBit = 2;
const statusShift = 2;
const statusMask = 3 << statusShift;
const clientShift = 8;
const statuses: readonly DisputeStatus[] = ['processed', 'disputed', 'chargedBack'];

/** The info word of a record: never 0 (the present bit), so 0 can mean "no record". */
export function packInfo(client: number, withdrawal: boolean, status: number): number {
  return (present | (withdrawal ? withdrawalBit : 0) | (status << statusShift) | (client << clientShift)) >>> 0;
}

export const infoClient = (info: number): number => info >>> clientShift;
export const infoWithdrawal = (info: number): boolean => (info & withdrawalBit) !== 0;
export const infoStatus = (info: number): number => (info >>> statusShift) & 3;
export const withStatus = (info: number, status: number): number =>
  ((info & ~statusMask) | (status << statusShift)) >>> 0;

export function encodeInfo(record: TxRecord): number {
  return packInfo(record.client, record.kind === 'withdrawal', StatusCode[record.status]);
}

export function decodeRecord(info: number, amount: number): TxRecord {
  const kind: TxKind = infoWithdrawal(info) ? 'withdrawal' : 'deposit';
  return { client: infoClient(info), kind, amount, status: statuses[infoStatus(info)]! };
}
