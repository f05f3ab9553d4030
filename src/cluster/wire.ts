/**
 * A batch on the wire: the batch columns (src/layout.ts batchLayout) of exactly its rows, so a
 * node decodes it into the same TxBatch the single-process worker gets. A batch larger than the
 * server's max_payload is split into consecutive pieces (each a batch of its own: the engine's
 * effect is per row, in order, so where a batch ends changes nothing).
 */
import type { TxBatch } from '../engine/batch.js';
import { columnsOf } from '../engine/batch.js';
import { batchLayout } from '../layout.js';

export interface WirePiece {
  readonly data: Uint8Array;
  readonly firstLine: number;
  readonly lastLine: number;
  readonly count: number;
}

/** The rows of `batch` as wire pieces of at most `maxBytes` each. */
export function encodeBatch(batch: TxBatch, maxBytes: number): WirePiece[] {
  const cols = columnsOf(batch.buffer);
  const perPiece = Math.max(1, Math.floor(maxBytes / batchLayout.rowBytes));
  const pieces: WirePiece[] = [];
  for (let from = 0; from < batch.count; from += perPiece) {
    const to = Math.min(batch.count, from + perPiece);
    const { data, columns } = batchLayout.allocate(to - from);
    columns.amounts.set(cols.amounts.subarray(from, to));
    columns.lines.set(cols.lines.subarray(from, to));
    columns.txs.set(cols.txs.subarray(from, to));
    columns.clients.set(cols.clients.subarray(from, to));
    columns.kinds.set(cols.kinds.subarray(from, to));
    pieces.push({ data, firstLine: cols.lines[from]!, lastLine: cols.lines[to - 1]!, count: to - from });
  }
  return pieces;
}

/** A wire piece back as a batch (copied into an aligned buffer of its own). */
export function decodeBatch(data: Uint8Array): TxBatch {
  const { columns, rows } = batchLayout.decode(data);
  return { count: rows, buffer: columns.amounts.buffer as ArrayBuffer };
}
