/**
 * Which shard owns a client: a stable hash of the client id, so a client's rows always reach the same
 * worker, in file order, whatever batch they travel in. Pure, for unit tests without threads.
 */
export function shardOf(client: number, shards: number): number {
  // Multiplicative hashing spreads consecutive ids evenly over any shard count.
  return (Math.imul(client + 1, 0x9e3779b1) >>> 0) % shards;
}
