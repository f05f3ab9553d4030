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

function viaText(text: string, shards: number, delimiter = ',') {
  const router = new ChunkRouter(shards, 'test', true, delimiter);
  const lineCount = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  // The bytes sit inside a larger buffer, as a read's do: nothing may be read past their end.
  const bytes = Buffer.from(`${text}deposit,1,1,1\n`, 'latin1').subarray(0, text.length);
  const chunk: TextChunk = { kind: 'text', bytes, firstLine: 1, lineCount, bytesRead: 0, proof: { end: 0, crc: 0 } };
  return summarize(router, router.route(chunk));
}

function viaPapaparse(text: string, shards: number, delimiter = ',') {
  const router = new ChunkRouter(shards, 'test', true, delimiter);
  const rows = new Papa.Parser({ delimiter, newline: '\n', quoteChar: '"' }).parse(text, 0, true).data as string[][];
  const rest = text.slice(text.lastIndexOf('\n') + 1);
  if (rest.length > 0) rows.push(rest.split(delimiter));
  const chunk: RowsChunk = {
    kind: 'rows',
    rows,
    firstLine: 1,
    lines: undefined,
    bytesRead: 0,
    proof: { end: 0, crc: 0 },
  };
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
// Lines as fields, joined with the delimiter under test; headers in other column orders included.
const header = fc
  .shuffledSubarray(['type', 'client', 'tx', 'amount', 'note'], { minLength: 2 })
  .map((names) => (names.includes('type') ? names : ['type', ...names]));
// Mostly well-formed rows too, so the one-pass path accepts as often as it declines.
const pad = (a: fc.Arbitrary<string>) =>
  fc.tuple(fc.constantFrom('', ' ', '\t'), a, fc.constantFrom('', ' ')).map(([x, y, z]) => x + y + z);
const wellFormed = fc
  .tuple(
    pad(fc.constantFrom('deposit', 'withdrawal', 'dispute', 'resolve', 'chargeback')),
    pad(fc.integer({ min: 0, max: 9 }).map(String)),
    pad(fc.integer({ min: 0, max: 20 }).map(String)),
    fc.option(pad(fc.constantFrom('1', '2.5', '.5', '0', '1.00001', '')), { nil: undefined }),
  )
  .map(([t, c, x, a]) => [t, c, x, ...(a === undefined ? [] : [a])]);
const lineFields = fc.oneof(
  wellFormed,
  wellFormed,
  fc.array(field, { minLength: 0, maxLength: 6 }),
  fc.tuple(field, field, field, field).map((f) => [` ${f[0]}`, ` ${f[1]}`, ` ${f[2]}`, ` ${f[3]} `]),
  header,
);
const csvText = (delimiter: string) =>
  fc
    .tuple(fc.array(lineFields, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
    .map(([lines, eol, trailing]) => {
      const joined = lines.map((fields) => fields.join(delimiter));
      return joined.join(eol) + (trailing && lines.length > 0 ? eol : '');
    });
const textAndDelimiter = fc.constantFrom(',', ',', '\t', ';').chain((d) => fc.tuple(csvText(d), fc.constant(d)));

describe('the in-place text scanner', () => {
  // 3,000 random texts: about 15 s on a quiet 2-core machine, several times that under load.
  it(
    'routes any quote-free ASCII text exactly as papaparse + StringFields do, for each delimiter',
    { timeout: 240_000 },
    () => {
      fc.assert(
        fc.property(textAndDelimiter, fc.integer({ min: 1, max: 4 }), ([text, delimiter], shards) => {
          const run = (f: () => unknown) => {
            try {
              return f();
            } catch (error) {
              return { error: (error as Error).message };
            }
          };
          expect(run(() => viaText(text, shards, delimiter))).toEqual(run(() => viaPapaparse(text, shards, delimiter)));
        }),
        { numRuns: 1500 },
      );
    },
  );

  it('echoes rejected rows after the reader has reused the chunk bytes (it keeps a copy)', () => {
    const router = new ChunkRouter(1, 'test', true);
    const bytes = Buffer.from('deposit,1,1,x\nwithdrawal, 1, 2,\ndeposit,1,3,1\n', 'latin1');
    const routed = router.route({
      kind: 'text',
      bytes,
      firstLine: 7,
      lineCount: 3,
      bytesRead: 0,
      proof: { end: 0, crc: 0 },
    });
    bytes.fill(0x7a); // the next read lands in the same buffer
    expect(routed.rejectedKeys.map((key) => routed.rowAt!(Math.floor(key / 32)))).toEqual([
      { line: 7, fields: ['deposit', '1', '1', 'x'] },
      { line: 8, fields: ['withdrawal', ' 1', ' 2', ''] },
    ]);
    expect(routed.rowAt!(2)).toEqual({ line: 9, fields: ['deposit', '1', '3', '1'] });
  });

  it('numbers lines across blank lines and CRLF', () => {
    const text = 'type,client,tx,amount\r\n\r\ndeposit,1,1,x\r\n   \r\nwithdrawal,1,2,\r\n';
    expect(viaText(text, 1).rejected).toEqual([
      [3, ['deposit', '1', '1', 'x'], 5],
      [5, ['withdrawal', '1', '2', ''], 4],
    ]);
  });
});
