/**
 * A batch on the wire: the batch columns (src/layout.ts batchLayout) of exactly its rows, so a
 * node decodes it into the same TxBatch the single-process worker gets. A batch larger than the
 * server's max_payload is split into consecutive pieces (each a batch of its own: the engine's
 * effect is per row, in order, so where a batch ends changes nothing).
 */
import type { BatchColumns, TxBatch } from '../engine/batch.js';
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

/**
 * Each shard's routed rows gathered into messages of `rowsPerMessage` rows (the last one of a shard
 * shorter): a routed chunk gives each shard a few thousand rows, and every message costs a publish
 * acknowledgement, a journal commit and a hand-off to a worker thread, whatever its size. The rows
 * are copied out of the batch (the router reuses its buffers); where a message ends depends only on
 * the rows of the shard before it, so a second submit of the same file cuts the same messages.
 */
export class WireGatherer {
  private readonly open: ({ data: Buffer; cols: BatchColumns; rows: number } | undefined)[];

  constructor(
    shards: number,
    private readonly rowsPerMessage: number,
  ) {
    if (!(rowsPerMessage >= 1)) throw new Error('invariant: a message holds at least one row');
    this.open = new Array(shards).fill(undefined);
  }

  /** Adds `batch`'s rows to `shard`'s message; returns the messages it filled, in order. */
  add(shard: number, batch: TxBatch): WirePiece[] {
    const from = columnsOf(batch.buffer);
    const full: WirePiece[] = [];
    for (let at = 0; at < batch.count;) {
      let m = this.open[shard];
      if (m === undefined) {
        const { data, columns } = batchLayout.allocate(this.rowsPerMessage);
        m = this.open[shard] = { data, cols: columns, rows: 0 };
      }
      const n = Math.min(batch.count - at, this.rowsPerMessage - m.rows);
      copyRows(from, at, m.cols, m.rows, n);
      m.rows += n;
      at += n;
      if (m.rows === this.rowsPerMessage) {
        full.push(pieceOf(m.data, m.cols, m.rows));
        this.open[shard] = undefined;
      }
    }
    return full;
  }

  /** The shard's rows not yet in a full message, as one (shorter) message; undefined when none. */
  flush(shard: number): WirePiece | undefined {
    const m = this.open[shard];
    this.open[shard] = undefined;
    if (m === undefined || m.rows === 0) return undefined;
    const { data, columns } = batchLayout.allocate(m.rows);
    copyRows(m.cols, 0, columns, 0, m.rows);
    return pieceOf(data, columns, m.rows);
  }
}

function copyRows(from: BatchColumns, at: number, to: BatchColumns, toAt: number, n: number): void {
  to.amounts.set(from.amounts.subarray(at, at + n), toAt);
  to.lines.set(from.lines.subarray(at, at + n), toAt);
  to.txs.set(from.txs.subarray(at, at + n), toAt);
  to.clients.set(from.clients.subarray(at, at + n), toAt);
  to.kinds.set(from.kinds.subarray(at, at + n), toAt);
}

function pieceOf(data: Uint8Array, cols: BatchColumns, rows: number): WirePiece {
  return { data, firstLine: cols.lines[0]!, lastLine: cols.lines[rows - 1]!, count: rows };
}

/** A wire piece back as a batch (copied into an aligned buffer of its own). */
export function decodeBatch(data: Uint8Array): TxBatch {
  const { columns, rows } = batchLayout.decode(data);
  return { count: rows, buffer: columns.amounts.buffer as ArrayBuffer };
}
