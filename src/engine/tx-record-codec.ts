/** A transaction record's client, kind and status packed in one u32 (0 means "no record"). */
import type { DisputeStatus, TxKind, TxRecord } from '../domain/account.js';

// bit 0 present, bit 1 withdrawal, bits 2-3 status, bits 8-23 client
const present = 1;
const withdrawalBit = 2;
const statusShift = 2;
const clientShift = 8;
const statuses: readonly DisputeStatus[] = ['processed', 'disputed', 'chargedBack'];

export function encodeInfo(record: TxRecord): number {
  return (
    (present |
      (record.kind === 'withdrawal' ? withdrawalBit : 0) |
      (statusCode(record.status) << statusShift) |
      (record.client << clientShift)) >>>
    0
  );
}

export function decodeRecord(info: number, amount: number): TxRecord {
  const kind: TxKind = info & withdrawalBit ? 'withdrawal' : 'deposit';
  return { client: info >>> clientShift, kind, amount, status: statuses[(info >>> statusShift) & 3]! };
}

function statusCode(status: DisputeStatus): number {
  return status === 'processed' ? 0 : status === 'disputed' ? 1 : 2;
}
