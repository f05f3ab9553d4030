/**
 * The router reads quote-free ASCII text in place instead of through papaparse. Both paths must
 * give the same batches and rejections for any such text: this checks the in-place scanner against
 * papaparse on random inputs.
 */
import fc from 'fast-check';
import Papa from 'papaparse';
import { describe, expect, it } from 'vitest';
import type { RowsChunk, TextChunk } from '../../src/io/csv-reader.js';
import { columnsOf, capacityOf } from '../../src/engine/batch.js';
import { ChunkRouter, type RoutedChunk } from '../../src/pipeline/router.js';

function viaText(text: string, shards: number) {
  const router = new ChunkRouter(shards, 'test', true);
  const lineCount = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  // Split into pieces at random line breaks, as the reader does for long reads.
  const lines = text.split(/(?<=\n)/);
  const cut = Math.floor(lines.length / 2);
  const texts = [lines.slice(0, cut).join(''), lines.slice(cut).join('')].filter((t) => t.length > 0);
  const lineCounts = texts.map((t) => t.split('\n').length - (t.endsWith('\n') ? 1 : 0));
  expect(lineCounts.reduce((a, b) => a + b, 0)).toBe(lineCount);
  const chunk: TextChunk = { kind: 'text', texts, lineCounts, firstLine: 1, lineCount, bytesRead: 0 };
  return summarize(router, router.route(chunk));
}

function viaPapaparse(text: string, shards: number) {
  const router = new ChunkRouter(shards, 'test', true);
  const rows = new Papa.Parser({ delimiter: ',', newline: '\n', quoteChar: '"' }).parse(text, 0, true)
    .data as string[][];
  const rest = text.slice(text.lastIndexOf('\n') + 1);
  if (rest.length > 0) rows.push(rest.split(','));
  const chunk: RowsChunk = { kind: 'rows', rows, firstLine: 1, lines: undefined, bytesRead: 0 };
  return summarize(router, router.route(chunk));
}

function summarize(router: ChunkRouter, routed: RoutedChunk) {
  const batches = routed.batches.map((batch) => {
    if (!batch) return [];
    const c = columnsOf(batch.buffer, capacityOf(batch.buffer));
    return Array.from({ length: batch.count }, (_, i) => [
      c.kinds[i],
      c.clients[i],
      c.txs[i],
      c.amounts[i],
      c.lines[i],
    ]);
  });
  const rejected = routed.rejectedKeys.map((key) => {
    const row = routed.rowAt!(Math.floor(key / 32));
    return [row.line, router.echo(row.fields), key % 32];
  });
  return { batches, rejected, dataRows: routed.dataRows, layout: router.layout };
}

const token = fc.constantFrom(
  'deposit',
  'withdrawal',
  'dispute',
  'resolve',
  'chargeback',
  'DEPOSIT',
  'Dispute',
  'type',
  'client',
  'tx',
  'amount',
  '1',
  '2',
  '007',
  '65535',
  '65536',
  '4294967295',
  '1.5',
  '.5',
  '5.',
  '0',
  '-1',
  'x',
  '',
  ' ',
  '\t',
  '1.00000',
  '1.23456',
);
const field = fc.array(token, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''));
const line = fc.oneof(
  fc.array(field, { minLength: 0, maxLength: 6 }).map((fields) => fields.join(',')),
  fc.tuple(field, field, field, field).map((f) => ` ${f.join(', ')} `),
);
const csvText = fc
  .tuple(fc.array(line, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([lines, eol, trailing]) => lines.join(eol) + (trailing && lines.length > 0 ? eol : ''));

describe('the in-place text scanner', () => {
  it('routes any quote-free ASCII text exactly as papaparse + StringFields do', () => {
    fc.assert(
      fc.property(csvText, fc.integer({ min: 1, max: 4 }), (text, shards) => {
        const run = (f: () => unknown) => {
          try {
            return f();
          } catch (error) {
            return { error: (error as Error).message };
          }
        };
        expect(run(() => viaText(text, shards))).toEqual(run(() => viaPapaparse(text, shards)));
      }),
      { numRuns: 3000 },
    );
  });

  it('numbers lines across blank lines and CRLF', () => {
    const text = 'type,client,tx,amount\r\n\r\ndeposit,1,1,x\r\n   \r\nwithdrawal,1,2,\r\n';
    expect(viaText(text, 1).rejected).toEqual([
      [3, ['deposit', '1', '1', 'x'], 5],
      [5, ['withdrawal', '1', '2', ''], 4],
    ]);
  });
});
