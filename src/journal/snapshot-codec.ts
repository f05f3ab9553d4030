/**
 * A partition snapshot: every account and every stored transaction as of one journal sequence
 * number, as accountLayout and txPartLayout columns (src/layout.ts) in blobs. The checksums cover
 * each blob together with the fields stored beside it (sequence number, line, counts).
 */
import { crc32 } from 'node:zlib';
import { accountLayout, txPartLayout } from '../layout.js';
import type { AccountEntry, TxIndexPart } from '../engine/journal-port.js';

export function encodeAccounts(accounts: readonly AccountEntry[]): Buffer {
  const { data, columns } = accountLayout.allocate(accounts.length);
  accounts.forEach((a, i) => {
    columns.available[i] = a.state.available;
    columns.held[i] = a.state.held;
    columns.clients[i] = a.client;
    columns.locked[i] = a.state.locked ? 1 : 0;
  });
  return data;
}

export function decodeAccounts(blob: Uint8Array): AccountEntry[] {
  const { columns: c, rows } = accountLayout.decode(blob);
  return Array.from({ length: rows }, (_, i) => ({
    client: c.clients[i]!,
    state: { available: c.available[i]!, held: c.held[i]!, locked: c.locked[i] === 1 },
  }));
}

export function encodeTxPart(part: TxIndexPart): Buffer {
  const { data, columns } = txPartLayout.allocate(part.keys.length);
  columns.amounts.set(part.amounts);
  columns.keys.set(part.keys);
  columns.infos.set(part.infos);
  return data;
}

export function decodeTxPart(blob: Uint8Array): TxIndexPart {
  return txPartLayout.decode(blob).columns;
}

/**
 * The checksum of a blob and the numbers stored beside it. Without fields it is the blob's CRC-32:
 * node's crc32 of a view on an empty ArrayBuffer returns 0 whatever the initial value, which would
 * make every such checksum 0.
 */
export function snapshotChecksum(blob: Uint8Array, ...fields: number[]): number {
  if (fields.length === 0) return crc32(blob);
  return crc32(new Uint8Array(Float64Array.from(fields).buffer), crc32(blob));
}
