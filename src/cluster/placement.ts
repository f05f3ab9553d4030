/**
 * Where shards go: the rules each node applies on its own at every tick, from the cluster's counts
 * (pure: no I/O, unit-tested against a simulated cluster).
 *
 * Load = the shards of open runs a node runs or has finished. Fair share: all those shards over the
 * live nodes. A node claims while below its fair share or not above the least loaded other node
 * (so an unowned shard always has a taker); it gives one back only when above its fair share and two
 * above the least loaded (a node joined). The two rules never undo each other, and a node that
 * finished its share early pulls nothing about near the end of a run (each move costs a recovery).
 */

export interface NodeLoad {
  /** Shards of open runs this node runs or has finished. */
  readonly load: number;
  /** Shards it runs now. */
  readonly running: number;
  /** The least load of the other live nodes; undefined when it is alone. */
  readonly othersMinOwned: number | undefined;
}

/** Every open run's shards over the live nodes, rounded up (at least 1). */
export function fairShare(openRunShards: number, liveNodes: number): number {
  return Math.ceil((openRunShards || 1) / Math.max(1, liveNodes));
}

/** Give one running shard back (rebalancing towards a node that joined). */
export function givesOneBack(node: NodeLoad, fair: number): boolean {
  const { load, running, othersMinOwned } = node;
  return othersMinOwned !== undefined && running > 1 && load > fair && load - othersMinOwned >= 2;
}

/** Claim one more shard, if one is unowned (at most `runningMax` running). */
export function mayClaim(node: NodeLoad, fair: number, runningMax: number): boolean {
  const { load, running, othersMinOwned } = node;
  return (load < fair || othersMinOwned === undefined || load <= othersMinOwned) && running < runningMax;
}
