/** What a shard's runner makes of each message of its subject (src/cluster/shard-messages.ts). */
import { describe, expect, it } from 'vitest';
import { judge, type HeaderSource } from '../../src/cluster/shard-messages.js';
import { encodeBatch } from '../../src/cluster/wire.js';
import { batchLayout } from '../../src/layout.js';
import { shardOf } from '../../src/domain/ids.js';

function headersOf(values: Record<string, string>): HeaderSource {
  return { get: (k) => values[k] ?? '', keys: () => Object.keys(values), values: (k) => [values[k] ?? ''] };
}

/** A batch of deposits of client `client` on these lines, as the wire carries it. */
function wire(lines: number[], client = 1): Uint8Array {
  const { data, columns } = batchLayout.allocate(lines.length);
  lines.forEach((line, i) => {
    columns.lines[i] = line;
    columns.clients[i] = client;
    columns.txs[i] = line;
    columns.amounts[i] = 100;
    columns.kinds[i] = 0;
  });
  return encodeBatch({ count: lines.length, buffer: data.buffer as ArrayBuffer }, 1 << 20)[0]!.data;
}

const batch = (no: number, prev: number, first: number, last: number) =>
  headersOf({
    'Payments-Journal': '7',
    'Payments-Batch': String(no),
    'Payments-Prev-Line': String(prev),
    'Payments-First-Line': String(first),
    'Payments-Last-Line': String(last),
  });
const at = (sentLine: number) => ({ shard: 0, shards: 1, sentLine, journal: 7 });

describe('judging a shard’s message', () => {
  it('applies the batch that follows the chain, skips one the journal holds', () => {
    expect(judge(batch(0, 0, 2, 5), wire([2, 5]), at(0)).kind).toBe('apply');
    expect(judge(batch(1, 5, 7, 9), wire([7, 9]), at(5)).kind).toBe('apply');
    expect(judge(batch(0, 0, 2, 5), wire([2, 5]), at(9)).kind).toBe('duplicate');
  });

  it('finds a missing batch, even the first, and an end marker past the journal', () => {
    expect(judge(batch(1, 5, 7, 9), wire([7, 9]), at(0))).toMatchObject({ kind: 'gap' });
    expect(judge(batch(2, 9, 11, 12), wire([11, 12]), at(5))).toMatchObject({ kind: 'gap' });
    const end = (last: number) =>
      headersOf({
        'Payments-Journal': '7',
        'Payments-End': '2',
        'Payments-Last-Line': String(last),
        'Payments-Rows': '4',
      });
    expect(judge(end(9), new Uint8Array(0), at(5)).kind).toBe('gap');
    expect(judge(end(9), new Uint8Array(0), at(9))).toEqual({ kind: 'end', lastLine: 9, rows: 4 });
    // Every end marker submit sends counts its rows: one without (or with a bad count) is a dead letter.
    for (const rows of [undefined, 'x', '-1'])
      expect(
        judge(
          headersOf({
            'Payments-Journal': '7',
            'Payments-End': '2',
            'Payments-Last-Line': '9',
            ...(rows === undefined ? {} : { 'Payments-Rows': rows }),
          }),
          new Uint8Array(0),
          at(9),
        ),
      ).toMatchObject({ kind: 'dead', reason: 'bad-headers' });
  });

  it('keeps what is not a valid batch of the run as a dead letter', () => {
    const dead = (h: HeaderSource | undefined, data: Uint8Array, shards = 1) =>
      judge(h, data, { shard: 0, shards, sentLine: 0, journal: 7 });
    expect(dead(undefined, new Uint8Array(3))).toMatchObject({ kind: 'dead', reason: 'other-journal' });
    expect(dead(headersOf({ 'Payments-Journal': '7' }), new Uint8Array(3))).toMatchObject({
      reason: 'no-batch-number',
    });
    expect(dead(headersOf({ 'Payments-Journal': '7', 'Payments-Batch': 'x' }), new Uint8Array(3))).toMatchObject({
      reason: 'no-batch-number',
    });
    expect(dead(batch(0, 0, 5, 2), wire([2, 5]))).toMatchObject({ reason: 'bad-headers' });
    expect(dead(batch(0, 0, 2, 5), new Uint8Array(7))).toMatchObject({ reason: 'undecodable' });
    expect(dead(batch(0, 0, 2, 6), wire([2, 5]))).toMatchObject({ reason: 'check-failed' });
    const otherShard = [1, 2, 3, 4].find((c) => shardOf(c, 2) === 1)!;
    expect(dead(batch(0, 0, 2, 5), wire([2, 5], otherShard), 2)).toMatchObject({ reason: 'check-failed' });
    const bad = wire([2, 5]);
    batchLayout.decode(bad); // a valid body, then a type code no reader produces
    const cols = batchLayout.views(new Uint8Array(bad).buffer, 2);
    cols.kinds[0] = 9;
    const body = new Uint8Array(cols.kinds.buffer);
    expect(dead(batch(0, 0, 2, 5), body)).toMatchObject({ reason: 'check-failed' });
  });

  it('takes nothing from a message of another journal of the run’s name, or of none: batches and end markers', () => {
    const stamped = (journal: string | undefined, values: Record<string, string>) =>
      headersOf(journal === undefined ? values : { 'Payments-Journal': journal, ...values });
    const end = { 'Payments-End': '0', 'Payments-Last-Line': '0', 'Payments-Prev-Line': '0', 'Payments-Rows': '0' };
    const first = {
      'Payments-Batch': '0',
      'Payments-Prev-Line': '0',
      'Payments-First-Line': '2',
      'Payments-Last-Line': '5',
    };
    for (const journal of [undefined, '', '6', '07', ' 7']) {
      // A stray end marker at the shard's start would otherwise finish it empty.
      expect(judge(stamped(journal, end), new Uint8Array(0), at(0))).toMatchObject({
        kind: 'dead',
        reason: 'other-journal',
      });
      expect(judge(stamped(journal, first), wire([2, 5]), at(0))).toMatchObject({
        kind: 'dead',
        reason: 'other-journal',
        batch: '0',
      });
    }
    expect(judge(stamped('6', first), wire([2, 5]), at(0))).toMatchObject({
      detail: expect.stringContaining('published for journal 6, not this run’s (7)'.replace('’', "'")),
    });
    expect(judge(stamped('7', end), new Uint8Array(0), at(0))).toEqual({ kind: 'end', lastLine: 0, rows: 0 });
    expect(judge(stamped('7', first), wire([2, 5]), at(0)).kind).toBe('apply');
  });
});
