/**
 * A partition snapshot: every account and every stored transaction as of one journal sequence
 * number, as typed-array columns in two blobs.
 */
import { crc32 } from 'node:zlib';
import type { AccountState } from '../domain/account.js';
import type { TxColumns } from './tx-table.js';

export interface AccountEntry {
  client: number;
  state: AccountState;
}

export function encodeAccounts(accounts: readonly AccountEntry[]): Buffer {
  const n = accounts.length;
  const data = Buffer.alloc(n * (8 + 8 + 2 + 1));
  const b = data.buffer;
  const o = data.byteOffset;
  const available = new Float64Array(b, o, n);
  const held = new Float64Array(b, o + 8 * n, n);
  const clients = new Uint16Array(b, o + 16 * n, n);
  const locked = new Uint8Array(b, o + 18 * n, n);
  accounts.forEach((a, i) => {
    available[i] = a.state.available;
    held[i] = a.state.held;
    clients[i] = a.client;
    locked[i] = a.state.locked ? 1 : 0;
  });
  return data;
}

export function decodeAccounts(blob: Uint8Array): AccountEntry[] {
  const n = blob.byteLength / 19;
  const b = new Uint8Array(blob).buffer;
  const available = new Float64Array(b, 0, n);
  const held = new Float64Array(b, 8 * n, n);
  const clients = new Uint16Array(b, 16 * n, n);
  const locked = new Uint8Array(b, 18 * n, n);
  return Array.from({ length: n }, (_, i) => ({
    client: clients[i]!,
    state: { available: available[i]!, held: held[i]!, locked: locked[i] === 1 },
  }));
}

/** One part of a snapshot's transaction index as a blob (16 bytes a transaction). */
export function encodeTxPart({ keys, infos, amounts }: TxColumns): Buffer {
  const n = keys.length;
  const data = Buffer.alloc(n * 16);
  const b = data.buffer;
  const o = data.byteOffset;
  new Float64Array(b, o, n).set(amounts);
  new Uint32Array(b, o + 8 * n, n).set(keys);
  new Uint32Array(b, o + 12 * n, n).set(infos);
  return data;
}

export function decodeTxPart(blob: Uint8Array): TxColumns {
  const n = blob.byteLength / 16;
  const b = new Uint8Array(blob).buffer;
  return {
    keys: new Uint32Array(b, 8 * n, n),
    infos: new Uint32Array(b, 12 * n, n),
    amounts: new Float64Array(b, 0, n),
  };
}

export function snapshotChecksum(blob: Uint8Array): number {
  return crc32(blob);
}
