/** Shards' routed rows gathered into wire messages (src/cluster/wire.ts WireGatherer). */
import { describe, expect, it } from 'vitest';
import { WireGatherer, decodeBatch, type WirePiece } from '../../src/cluster/wire.js';
import { columnsOf } from '../../src/engine/batch.js';
import { batchLayout } from '../../src/layout.js';

/** A routed batch of rows on these lines (the other columns derived from the line). */
function routed(lines: number[]) {
  // The router reuses its buffers: a batch is handed over in a buffer larger than its rows.
  const buffer = new ArrayBuffer(batchLayout.bytes(lines.length + 7));
  const cols = columnsOf(buffer);
  lines.forEach((line, i) => {
    cols.lines[i] = line;
    cols.txs[i] = line * 3;
    cols.clients[i] = line % 65536;
    cols.amounts[i] = line * 1.5;
    cols.kinds[i] = line % 5;
  });
  return { count: lines.length, buffer };
}

/** Every row of the messages, as [line, tx, client, amount, kind]. */
function rowsOf(pieces: WirePiece[]): number[][] {
  const rows: number[][] = [];
  for (const piece of pieces) {
    const batch = decodeBatch(piece.data);
    const c = columnsOf(batch.buffer, batch.count);
    expect(batch.count).toBe(piece.count);
    expect([piece.firstLine, piece.lastLine]).toEqual([c.lines[0], c.lines[batch.count - 1]]);
    for (let i = 0; i < batch.count; i++)
      rows.push([c.lines[i]!, c.txs[i]!, c.clients[i]!, c.amounts[i]!, c.kinds[i]!]);
  }
  return rows;
}

/** The shard's messages when its rows arrive in batches of these sizes. */
function gather(sizes: number[], perMessage: number, shards = 2, shard = 1): WirePiece[] {
  const gatherer = new WireGatherer(shards, perMessage);
  const out: WirePiece[] = [];
  let line = 2;
  for (const size of sizes) {
    const lines = Array.from({ length: size }, () => (line += 2));
    out.push(...gatherer.add(shard, routed(lines)));
  }
  const last = gatherer.flush(shard);
  if (last !== undefined) out.push(last);
  return out;
}

describe('gathering a shard’s rows into messages', () => {
  it('fills messages of exactly rowsPerMessage rows, the last one shorter, every row once and in order', () => {
    const pieces = gather([3, 3, 3, 5, 1], 4);
    expect(pieces.map((p) => p.count)).toEqual([4, 4, 4, 3]);
    const expected = Array.from({ length: 15 }, (_, i) => {
      const line = 4 + 2 * i;
      return [line, line * 3, line % 65536, line * 1.5, line % 5];
    });
    expect(rowsOf(pieces)).toEqual(expected);
  });

  it('cuts the same messages however the rows were split into batches (a second submit republishes the same)', () => {
    const one = gather([1000], 64);
    for (const sizes of [[999, 1], [1, 999], Array.from({ length: 1000 }, () => 1), [64, 64, 500, 372]])
      expect(gather(sizes, 64).map((p) => Buffer.from(p.data).toString('hex'))).toEqual(
        one.map((p) => Buffer.from(p.data).toString('hex')),
      );
    expect(one.map((p) => p.count)).toEqual([...Array.from({ length: 15 }, () => 64), 40]);
  });

  it('keeps shards apart, and a shard with nothing left flushes nothing', () => {
    const gatherer = new WireGatherer(3, 2);
    expect(gatherer.add(0, routed([2, 4, 6]))).toHaveLength(1);
    expect(gatherer.add(2, routed([3]))).toHaveLength(0);
    expect(rowsOf([gatherer.flush(0)!]).map((r) => r[0])).toEqual([6]);
    expect(rowsOf([gatherer.flush(2)!]).map((r) => r[0])).toEqual([3]);
    expect(gatherer.flush(1)).toBeUndefined();
    expect(gatherer.flush(0)).toBeUndefined();
    expect(gatherer.add(1, routed([]))).toEqual([]);
    expect(gatherer.flush(1)).toBeUndefined();
  });

  it('refuses a message of no rows', () => {
    expect(() => new WireGatherer(1, 0)).toThrow(/at least one row/);
  });
});
