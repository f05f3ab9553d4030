/**
 * The parsing thread's per-row work: find the header, check each row (SPEC "well-formed"), apply the
 * global duplicate-tx rule, and encode accepted rows into one batch per shard.
 */
import { carriesAmount } from '../domain/transaction.js';
import { lineOf, type RowChunk } from '../io/csv-reader.js';
import { usageError } from '../io/errors.js';
import { headerlessLayout, isBlankRow, parseRow, readHeader, rowOk, type ColumnLayout, type ParsedRow } from '../io/row.js';
import { BatchBuilder, duplicateFlag, type TxBatch } from '../pool/batch.js';
import { shardOf } from '../pool/shard.js';
import { TxIdSet } from './tx-id-set.js';

/** Rejections are sorted as one number: row index × reasonSlots + reason code. */
export const reasonSlots = 32;

export interface RoutedChunk {
  readonly chunk: RowChunk;
  /** Rows rejected here (malformed), as sort keys. */
  readonly rejectedKeys: number[];
  /** Per shard: its batch (undefined when empty) and, for each batch row, the row's index in the chunk. */
  readonly batches: (TxBatch | undefined)[];
  readonly rowIndexes: number[][];
  readonly dataRows: number;
}

export class ChunkRouter {
  layout: ColumnLayout | undefined;
  private readonly seenTx = new TxIdSet();
  private readonly builders: BatchBuilder[];
  private readonly parsed: ParsedRow = { typeCode: 0, client: 0, tx: 0, amount: 0 };

  constructor(readonly shards: number, private readonly inputName: string) {
    this.builders = Array.from({ length: shards }, () => new BatchBuilder(1024));
  }

  get seenTxBytes(): number {
    return this.seenTx.bytes;
  }

  route(chunk: RowChunk): RoutedChunk {
    const { rows } = chunk;
    const { shards, builders, parsed, seenTx } = this;
    const rejectedKeys: number[] = [];
    const rowIndexes: number[][] = Array.from({ length: shards }, () => []);
    let dataRows = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (isBlankRow(row)) continue;
      let layout = this.layout;
      if (layout === undefined) {
        layout = this.detectLayout(row, lineOf(chunk, i));
        if (layout.hasHeader) continue;
      }
      dataRows++;
      const reason = parseRow(row, layout, parsed);
      if (reason !== rowOk) {
        rejectedKeys.push(i * reasonSlots + reason);
        continue;
      }
      let kind = parsed.typeCode;
      if (carriesAmount(kind) && seenTx.testAndAdd(parsed.tx)) kind |= duplicateFlag;
      const shard = shards === 1 ? 0 : shardOf(parsed.client, shards);
      builders[shard]!.push(kind, parsed.client, parsed.tx, parsed.amount, lineOf(chunk, i));
      rowIndexes[shard]!.push(i);
    }
    const batches = builders.map((b) => (b.count > 0 ? b.take() : undefined));
    return { chunk, rejectedKeys, batches, rowIndexes, dataRows };
  }

  private detectLayout(row: readonly string[], line: number): ColumnLayout {
    const header = readHeader(row);
    if (header.kind === 'invalid') {
      throw usageError(`${this.inputName}:${line}: the header has no "${header.missing}" column (expected type, client, tx, amount)`);
    }
    this.layout = header.kind === 'header' ? header.layout : headerlessLayout;
    return this.layout;
  }
}
