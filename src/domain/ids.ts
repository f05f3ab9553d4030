import { clientsMax } from '../constants.js';

/** The ranges of the ids a row carries (SPEC: client is a u16, tx a u32), and which shard owns a client. */

/** The largest client id (u16). */
export const clientIdMax = 0xffff;
/** How many distinct client ids exist (0..clientIdMax). */
export const clientIdCount = clientIdMax + 1;
/** The largest tx id (u32). */
export const txIdMax = 0xffffffff;
if (clientIdCount !== clientsMax) throw new Error('invariant: clientsMax must count every client id');

export function isClientId(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= clientIdMax;
}

/**
 * Which shard owns a client: a stable hash of the client id, so a client's rows always reach the same
 * worker, in file order, whatever batch they travel in. Pure, for unit tests without threads.
 */
export function shardOf(client: number, shards: number): number {
  // Multiplicative hashing spreads consecutive ids evenly over any shard count.
  return (Math.imul(client + 1, 0x9e3779b1) >>> 0) % shards;
}
