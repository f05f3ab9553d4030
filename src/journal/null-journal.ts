import type { JournalPartition, Recovery } from '../engine/journal-port.js';

/**
 * The null journal: records nothing, recovers nothing. A run without --journal keeps its state in
 * the engine alone (which owns it either way).
 */
export class NullJournal implements JournalPartition {
  readonly recordsNothing = true;
  recover(): Recovery {
    return { snapshot: undefined, tail: [], lastSeq: 0, resumeLine: 0, torn: undefined, inputProofs: [] };
  }
  recordEvent(): void {}
  recordRejection(): void {}
  commit(): void {}
  snapshotDue(): boolean {
    return false;
  }
  writeSnapshot(): void {}
  recordedOutcomes(firstLine: number): never {
    throw new Error(`invariant: the null journal has nothing recorded for line ${firstLine}`);
  }
  close(): void {}
}
