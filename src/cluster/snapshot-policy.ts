/** When an owned shard writes a snapshot (shard-worker.ts); the reasons are at the constants. */
import { clusterSnapshotEveryMs, clusterSnapshotGrowth, clusterSnapshotRecordsMin } from '../constants.js';

/** Whether a snapshot is due at `records`, `last` being the records the last one held and when it was written. */
export function snapshotDue(records: number, last: { records: number; ms: number }, now = performance.now()): boolean {
  const since = records - last.records;
  return (
    since >= clusterSnapshotRecordsMin &&
    since >= clusterSnapshotGrowth * last.records &&
    now - last.ms >= clusterSnapshotEveryMs
  );
}
