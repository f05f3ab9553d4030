/** A varied engine history as batches, and its uninterrupted reference (shared by journal int tests). */
import { TxTypeCode } from '../../src/domain/transaction.js';
import { BatchBuilder, BufferPool, duplicateFlag, type TxBatch } from '../../src/engine/batch.js';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { NullJournal } from '../../src/journal/null-journal.js';

export type Row = [type: number, client: number, tx: number, amount: number];

/** Rows as batches of `size`, numbered from line 2 (after a header), like the router builds them. */
export function batchesOf(rows: readonly Row[], size: number, firstLine = 2): TxBatch[] {
  const builder = new BatchBuilder(new BufferPool(size));
  const seen = new Set<number>();
  const batches: TxBatch[] = [];
  rows.forEach(([type, client, tx, amount], i) => {
    let kind = type;
    if (type <= TxTypeCode.withdrawal) {
      if (seen.has(tx)) kind |= duplicateFlag;
      seen.add(tx);
    }
    builder.push(kind, client, tx, amount, firstLine + i);
    if (builder.count === size) batches.push(builder.take());
  });
  if (builder.count > 0) batches.push(builder.take());
  return batches;
}

/** Deposits, withdrawals, disputes, resolves, chargebacks, a few rejections. */
export function history(n: number): Row[] {
  const rows: Row[] = [];
  for (let i = 1; i <= n; i++) {
    const client = i % 7;
    rows.push([TxTypeCode.deposit, client, i, 1000 + i]);
    if (i % 5 === 0) rows.push([TxTypeCode.withdrawal, client, 1_000_000 + i, 300]);
    if (i % 9 === 0) rows.push([TxTypeCode.dispute, client, i - 3, 0]);
    if (i % 18 === 0) rows.push([TxTypeCode.resolve, client, i - 3, 0]);
    if (i % 27 === 0) rows.push([TxTypeCode.chargeback, client, i - 3, 0]);
    if (i % 11 === 0) rows.push([TxTypeCode.dispute, client, 99_999_999, 0]); // unknown_tx
  }
  return rows;
}

export async function applyAll(engine: ShardEngine, batches: readonly TxBatch[]): Promise<number[][]> {
  const rejected: number[][] = [];
  for (const batch of batches) rejected.push([...(await engine.applyBatch(batch))]);
  return rejected;
}

export const accountsOf = (engine: ShardEngine) => engine.accountEntries().sort((a, b) => a.client - b.client);

/** The same rows through an engine without a journal. */
export async function reference(rows: readonly Row[], size: number) {
  const engine = new ShardEngine(new NullJournal());
  const rejected = await applyAll(engine, batchesOf(rows, size));
  return { accounts: accountsOf(engine), rejected, records: engine.records, events: engine.events };
}
