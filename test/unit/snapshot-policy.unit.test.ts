/** When an owned shard writes a snapshot (src/cluster/snapshot-policy.ts). */
import { describe, expect, it } from 'vitest';
import { snapshotDue } from '../../src/cluster/snapshot-policy.js';
import { clusterSnapshotEveryMs, clusterSnapshotGrowth, clusterSnapshotRecordsMin } from '../../src/constants.js';

describe('a shard’s snapshot policy', () => {
  const later = clusterSnapshotEveryMs;

  it('waits for enough new records and enough time', () => {
    expect(snapshotDue(clusterSnapshotRecordsMin, { records: 0, ms: 0 }, later)).toBe(true);
    expect(snapshotDue(clusterSnapshotRecordsMin - 1, { records: 0, ms: 0 }, later)).toBe(false);
    expect(snapshotDue(clusterSnapshotRecordsMin, { records: 0, ms: 0 }, later - 1)).toBe(false);
  });

  it('waits for the shard to grow by a share of its last snapshot, however much time passed', () => {
    const last = { records: 1_000_000, ms: 0 };
    const grown = last.records * (1 + clusterSnapshotGrowth);
    expect(snapshotDue(grown - 1, last, 100 * later)).toBe(false);
    expect(snapshotDue(grown, last, later)).toBe(true);
  });

  it('writes a slowed-down shard’s index a bounded number of times (at most 3 × the last snapshot in all)', () => {
    // One batch of 10,000 records every clusterSnapshotEveryMs: on time alone, a snapshot each batch.
    let last = { records: 0, ms: 0 };
    let written = 0;
    let snapshots = 0;
    for (let records = 10_000, now = later; records <= 2_000_000; records += 10_000, now += later) {
      if (!snapshotDue(records, last, now)) continue;
      written += records;
      snapshots++;
      last = { records, ms: now };
    }
    expect(snapshots).toBeLessThan(15);
    expect(written).toBeLessThanOrEqual(3 * last.records);
    // A takeover replays what came after the last snapshot: at most a third of the shard.
    expect(2_000_000 - last.records).toBeLessThanOrEqual(2_000_000 / 3);
  });
});
