import { clientsMax } from '../constants.js';

/** The ranges of the ids a row carries (SPEC: client is a u16, tx a u32), and which shard owns a client. */

/** The largest client id (u16): constants.ts counts them (clientsMax, checked to be 2^16 there). */
export const clientIdMax = clientsMax - 1;
/** The largest tx id (u32). */
export const txIdMax = 0xffffffff;

/**
 * Which shard owns a client: a stable hash of the client id, so a client's rows always reach the same
 * worker, in file order, whatever batch they travel in. Pure, for unit tests without threads.
 */
export function shardOf(client: number, shards: number): number {
  // Multiplicative hashing spreads consecutive ids evenly over any shard count.
  return (Math.imul(client + 1, 0x9e3779b1) >>> 0) % shards;
}
