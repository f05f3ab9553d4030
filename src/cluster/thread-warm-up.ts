/**
 * Warms a node's shard thread's compiled code as the node starts, before any shard. A fresh thread runs the
 * engine in V8's interpreter until enough rows have passed to compile it: its first batches cost
 * 10-20 times a warm thread's (measured: 25-38 ms against 1.5-5 ms for 11,400 rows). On a busy
 * machine that is a large part of a handoff's pause: the successor's recovery and first batch,
 * and the stopping owner's batch in flight and final snapshot when its thread is new. So each
 * thread runs synthetic rows through the same code a shard runs, once: apply and record
 * (ShardEngine, RecordBatchBuilder and the compact codec), the batch read back as a recovery reads
 * it, a snapshot encoded and decoded, and an engine recovered from it. Nothing is stored or sent;
 * the state is dropped.
 */
import { duplicateFlag, snapshotPartTxs } from '../constants.js';
import type { AccountEvent } from '../domain/account.js';
import { TxTypeCode } from '../domain/transaction.js';
import { BatchBuilder, BufferPool } from '../engine/batch.js';
import type { EngineState, JournalPartition, JournalRecord, Recovery, RowRef } from '../engine/journal-port.js';
import { ShardEngine } from '../engine/shard-engine.js';
import { decodeCheckedColumns, RecordBatchBuilder } from '../journal/record-codec.js';
import { decodeAccounts, decodeTxPart, encodeAccounts, encodeTxPart } from '../journal/snapshot-codec.js';

/** Rows and batches of the warm-up: about as many as V8 needs to compile the apply loop (measured). */
export const warmUpBatches = 4;
export const warmUpBatchRows = 8_000;

/** A journal that records and encodes as the PostgreSQL partition does, and keeps nothing but the last snapshot. */
class WarmUpJournal implements JournalPartition {
  private readonly builder = new RecordBatchBuilder();
  private nextSeq = 1;
  snapshot: Recovery['snapshot'];

  constructor(private readonly from?: Recovery['snapshot']) {}

  recover(): Recovery {
    const lastSeq = this.from?.seq ?? 0;
    return {
      snapshot: this.from,
      tail: [],
      lastSeq,
      resumeLine: this.from?.line ?? 0,
      torn: undefined,
      inputProofs: [],
    };
  }
  recordEvent(event: AccountEvent, row: RowRef): void {
    this.builder.addEvent(event, row);
  }
  recordRejection(reasonCode: number, row: RowRef): void {
    this.builder.addRejection(reasonCode, row);
  }
  recordCodes(e: number, r: number, line: number, type: number, client: number, tx: number, amount: number): void {
    this.builder.addCodes(e, r, line, type, client, tx, amount);
  }
  commit(): void {
    if (this.builder.count === 0) return;
    const batch = this.builder.take(this.nextSeq, undefined, 'compact');
    decodeCheckedColumns(batch, 'warm-up', 'compact'); // as a recovery reads a batch back
    this.nextSeq += batch.count;
  }
  snapshotDue(): boolean {
    return false;
  }
  writeSnapshot(state: EngineState): void {
    const accounts = decodeAccounts(encodeAccounts(state.accounts));
    const txParts = [...state.txParts(snapshotPartTxs)].map((part) => decodeTxPart(encodeTxPart(part)));
    const seq = this.nextSeq - 1;
    this.snapshot = { seq, line: seq, events: state.events, accounts, txParts };
  }
  recordedOutcomes(): readonly JournalRecord[] {
    return [];
  }
  close(): void {}
}

/** What a warm-up ran through (for its test: every path it is meant to compile was taken). */
export interface WarmUpRun {
  readonly rows: number;
  readonly rejected: number;
  readonly accounts: number;
  /** Accounts and indexed transactions of the engine recovered from the warm-up's snapshot. */
  readonly recoveredAccounts: number;
  readonly recoveredTxs: number;
  readonly txs: number;
}

/** Runs the warm-up (tens of milliseconds of CPU); deterministic, no I/O. */
export async function warmUpShardThread(): Promise<WarmUpRun> {
  const pool = new BufferPool(warmUpBatchRows);
  const journal = new WarmUpJournal();
  const { engine } = await ShardEngine.open(journal);
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let line = 1;
  let tx = 1;
  let rejected = 0;
  for (let b = 0; b < warmUpBatches; b++) {
    const rows = new BatchBuilder(pool);
    for (let i = 0; i < warmUpBatchRows; i++, line++) {
      const client = 1 + random(500);
      const pick = random(100);
      // Deposits, withdrawals (some overdrawn), disputes, resolves and chargebacks of recent or
      // unknown transactions, and now and then a reused tx id: every rule and rejection runs.
      if (pick < 55)
        rows.push(TxTypeCode.deposit | (pick === 0 ? duplicateFlag : 0), client, tx++, 1 + random(90_000), line);
      else if (pick < 85) rows.push(TxTypeCode.withdrawal, client, tx++, 1 + random(60_000), line);
      else if (pick < 93) rows.push(TxTypeCode.dispute, client, tx - 1 - random(2_000), 0, line);
      else if (pick < 98) rows.push(TxTypeCode.resolve, client, tx - 1 - random(2_000), 0, line);
      else rows.push(TxTypeCode.chargeback, client, tx - 1 - random(2_000), 0, line);
    }
    rejected += (await engine.applyBatch(rows.take())).length / 2;
  }
  journal.writeSnapshot(engine.state());
  // A successor recovers from a snapshot: import one.
  const recovered = (await ShardEngine.open(new WarmUpJournal(journal.snapshot))).engine;
  return {
    rows: line - 1,
    rejected,
    accounts: engine.accountCount,
    txs: engine.storedTxCount,
    recoveredAccounts: recovered.accountCount,
    recoveredTxs: recovered.storedTxCount,
  };
}
