/**
 * The journal port: what the engine (engine/shard-engine.ts) needs of a shard's history, as a sink
 * and a source. The engine owns every piece of state it decides on (accounts, transaction index,
 * counters) and the types here; the journal implementations (journal/) import them. A partition
 *   - records each row's outcome (an accepted event or a rejection) in input order,
 *   - makes a batch of records durable at `commit`,
 *   - stores snapshots of (accounts, transaction index) that the engine hands it,
 *   - gives back, at open, the newest snapshot plus every record after it (`recover`), and
 *   - answers what it recorded for lines an earlier run already applied (`recordedOutcomes`).
 *
 * One partition per shard, written by that shard's worker alone. Implementations: NullJournal
 * (in memory, records nothing), SqliteJournal (a SQLite file per partition) and the PostgreSQL
 * partition. Opening, recovering, committing, snapshotting, reading back and closing may return
 * Promises (the worker awaits each); recording is synchronous and buffered until `commit`.
 *
 * Identity: a record's idempotency key is its input line (a partition never holds two records for
 * one line), and records are numbered by a gapless sequence per partition, 1, 2, 3, ...
 */
import type { AccountEvent, AccountState } from '../domain/account.js';
import type { InputProof } from '../io/input-proof.js';

export type MaybePromise<T> = T | Promise<T>;

/** The input row a record answers, as the engine saw it (amount in minor units, 0 for disputes). */
export interface RowRef {
  readonly line: number;
  readonly typeCode: number;
  readonly client: number;
  readonly tx: number;
  readonly amount: number;
}

/** A recorded outcome: the row, and the event it produced or the reason it was rejected. */
export interface JournalRecord extends RowRef {
  /** Gapless sequence number within the partition, from 1. */
  readonly seq: number;
  /** The accepted event; undefined when the row was rejected. */
  readonly event: AccountEvent | undefined;
  /** The rejection reason code; -1 when accepted. */
  readonly reason: number;
}

/** One account as a snapshot holds it. */
export interface AccountEntry {
  readonly client: number;
  readonly state: AccountState;
}

/**
 * A part of the transaction index as columns (the engine's TxTable exports and imports these):
 * tx id, packed record info (engine/tx-record-codec.ts) and amount in minor units.
 */
export interface TxIndexPart {
  readonly keys: Uint32Array;
  readonly infos: Uint32Array;
  readonly amounts: Float64Array;
}

/** What the engine hands `writeSnapshot`: its whole state as of the last committed record. */
export interface EngineState {
  readonly accounts: readonly AccountEntry[];
  /** The transaction index in parts of at most `partTxs` transactions (the journal picks the size). */
  txParts(partTxs: number): Iterable<TxIndexPart>;
  /** Accepted events so far (stored with the snapshot and cross-checked on recovery). */
  readonly events: number;
  /**
   * The shard is finished: no batch can follow, and what is read of it later (outputs, replay)
   * needs its accounts alone. A journal may then store the accounts without the index (most of a
   * snapshot's bytes) and keep its newest whole snapshot for a recovery; one that cannot, stores all.
   */
  readonly accountsOnly?: boolean;
  /**
   * The index entries added or changed since the full snapshot at seq `baseSeq`, when the engine
   * keeps track of them (it does after recovering from, or writing, a snapshot that `written`
   * called full): a journal may store only these, layered on that snapshot.
   */
  readonly txDelta?: TxDelta;
  /** Told once the snapshot at `seq` is durable; `full` false when it holds txDelta alone. */
  written?(seq: number, full: boolean): void;
}

export interface TxDelta {
  readonly baseSeq: number;
  /** Entries the delta holds (at most), and in the whole index: which is cheaper to store. */
  readonly entries: number;
  readonly total: number;
  parts(partTxs: number): Iterable<TxIndexPart>;
}

/** A snapshot as recovered. */
export interface RecoveredSnapshot {
  /** Sequence number of the last record the snapshot includes. */
  readonly seq: number;
  /** Input line of that record. */
  readonly line: number;
  readonly events: number;
  readonly accounts: readonly AccountEntry[];
  readonly txParts: readonly TxIndexPart[];
  /**
   * Where the index is layered (a journal that stores deltas says so): `txParts` are the full
   * snapshot at seq `baseSeq` (this snapshot itself when `txDelta` is absent), and `txDelta` the
   * entries added or changed after it, applied over it.
   */
  readonly baseSeq?: number;
  readonly txDelta?: readonly TxIndexPart[];
}

/** What a partition holds when opened. */
export interface Recovery {
  /** The newest valid snapshot, or undefined (a fresh partition, or none written yet). */
  readonly snapshot: RecoveredSnapshot | undefined;
  /**
   * Every record after the snapshot, in sequence order, for the engine to apply through its own
   * effect step (evolve + evolveTx). Iterated once, before the first batch.
   */
  readonly tail: Iterable<JournalRecord> | AsyncIterable<JournalRecord>;
  /** The last recorded sequence number (0 when empty): the next record is lastSeq + 1. */
  readonly lastSeq: number;
  /**
   * Rows up to this input line were applied by an earlier run (0 when empty): the engine must not
   * apply them again, and asks `recordedOutcomes` for them instead.
   */
  readonly resumeLine: number;
  /** A damaged last batch dropped at open (a write cut short): its lines are applied again. */
  readonly torn: { readonly firstLine: number; readonly lastLine: number } | undefined;
  /**
   * The input proof each committed batch stored, in commit order (undefined for a batch committed
   * without one). The run checks them against the input before it commits anything new.
   */
  readonly inputProofs: readonly (InputProof | undefined)[];
}

export interface JournalPartition {
  /** True for a partition that keeps nothing (the null journal): the engine then builds no records. */
  readonly recordsNothing?: boolean;

  /**
   * Opens the partition (creating it if new) and returns what it holds. Called once, first.
   * Validates everything it returns (checksums, gapless sequence, snapshot fields cross-checked
   * against the batches); anything that does not hold throws JournalCorrupt naming the partition.
   * A torn last batch is the one damage repaired here (dropped, and reported in `torn`).
   */
  recover(): MaybePromise<Recovery>;

  /** Records an accepted event for `row` (buffered; durable at the next commit). */
  recordEvent(event: AccountEvent, row: RowRef): void;

  /** Records a rejection of `row` with its reason code (buffered; durable at the next commit). */
  recordRejection(reasonCode: number, row: RowRef): void;

  /**
   * Optional, and preferred by the engine when present: the same record as recordEvent (eventCode:
   * the event's EventCode, amount: what it moved) or recordRejection (eventCode -1, reasonCode, the
   * row's amount) from numbers alone: no event or row object per record for the GC to collect.
   */
  recordCodes?(
    eventCode: number,
    reasonCode: number,
    line: number,
    typeCode: number,
    client: number,
    tx: number,
    amount: number,
  ): void;

  /**
   * Makes every record since the last commit durable, all or nothing: after a crash the partition
   * holds either the whole batch or none of it. Sequence numbers continue gaplessly from the last
   * commit. Recording a line the partition already holds is an error (idempotency key = line),
   * never a second copy. A commit with nothing recorded does nothing. `proof` (the input up to the
   * end of the read the rows came from) is stored with the batch.
   * An implementation may keep one batch in flight (PostgreSQL does, so the server's COPY overlaps
   * the engine's next batch): commit then returns once the previous batch is durable, and
   * writeSnapshot, recordedOutcomes and close wait for the one in flight. A crash then loses at
   * most that batch, whole, and the resumed run applies its rows again from the input.
   */
  commit(proof?: InputProof): MaybePromise<void>;

  /** Whether the engine should write a snapshot now (the journal's policy; `storedTxs` = index size). */
  snapshotDue(storedTxs: number): boolean;

  /**
   * Stores a snapshot of the engine's state as of the last committed record, atomically (a
   * snapshot is whole or absent), and may drop older ones. Only between batches (nothing
   * recorded since the last commit); does nothing when no record was added since the last one.
   */
  writeSnapshot(state: EngineState): MaybePromise<void>;

  /**
   * The records of this partition for input lines firstLine..lastLine, in order (only lines at or
   * before recovery's resumeLine are asked for). The engine checks them against its rows: a record
   * whose row differs means the input changed (JournalCorrupt).
   */
  recordedOutcomes(firstLine: number, lastLine: number): MaybePromise<readonly JournalRecord[]>;

  /** Releases the partition. Records not committed are discarded. Safe to call twice. */
  close(): MaybePromise<void>;
}
