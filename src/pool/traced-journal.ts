/**
 * A journal partition whose commits and snapshots are spans (`payments.journal.commit`,
 * `payments.journal.snapshot`), children of what is active (the batch being applied). Used only
 * while tracing is on: the engine then calls it instead of the partition. Every call goes to the
 * partition itself (its own `this`). A commit outside any span (a batch whose trace the node was
 * not given) starts no trace of its own.
 */
import type { JournalPartition } from '../engine/journal-port.js';
import { activeCarrier, traced } from '../ops/tracing.js';

export function tracedPartition(partition: JournalPartition, shard: number): JournalPartition {
  if (partition.recordsNothing) return partition; // its commits do nothing: nothing to see
  return {
    recordsNothing: false,
    recover: () => partition.recover(),
    recordEvent: (event, row) => partition.recordEvent(event, row),
    recordRejection: (reason, row) => partition.recordRejection(reason, row),
    ...(partition.recordCodes === undefined
      ? {}
      : {
          recordCodes: (eventCode, reason, line, typeCode, client, tx, amount) =>
            partition.recordCodes!(eventCode, reason, line, typeCode, client, tx, amount),
        }),
    commit: (proof) =>
      activeCarrier() === undefined
        ? partition.commit(proof)
        : traced('payments.journal.commit', { 'payments.shard': shard }, () => partition.commit(proof)),
    snapshotDue: (storedTxs) => partition.snapshotDue(storedTxs),
    writeSnapshot: (state) =>
      traced('payments.journal.snapshot', { 'payments.shard': shard }, () => partition.writeSnapshot(state)),
    recordedOutcomes: (first, last) => partition.recordedOutcomes(first, last),
    close: () => partition.close(),
  };
}
