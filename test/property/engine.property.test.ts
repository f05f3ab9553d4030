/**
 * The sharded engine (real Piscina workers, the streaming reader, the in-place scanner) against an
 * independent sequential model, on random transaction streams with malformed rows, duplicate ids and
 * cross-client references: identical accounts and rejections for 1, 2, 3 and 8 workers.
 */
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCsv } from '../helpers/engine.js';
import { runSequentialModel } from '../helpers/sequential-model.js';

const type = fc.constantFrom(
  'deposit',
  'deposit',
  'withdrawal',
  'withdrawal',
  'dispute',
  'resolve',
  'chargeback',
  'DEPOSIT',
  'Dispute',
  'refund',
  '',
);
const client = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map(String),
  fc.constantFrom('65535', '65536', '-1', 'x', '', '007'),
);
const tx = fc.oneof(
  fc.integer({ min: 0, max: 25 }).map(String),
  fc.constantFrom('4294967295', '4294967296', '1.5', ''),
);
const amount = fc.oneof(
  fc.constantFrom('1', '2.5', '0.0001', '100', '7.', '.25', '1.50000', '900719925474.0991', '450359962737.0496'),
  fc.constantFrom('', 'x', '1.23456', '-1', '1e2', '0', '900719925474.0992', '"1,000"'),
  fc.integer({ min: 1, max: 10_000_000 }).map((u) => `${Math.floor(u / 10000)}.${String(u % 10000).padStart(4, '0')}`),
);
const row = fc.oneof(
  { weight: 20, arbitrary: fc.tuple(type, client, tx, amount).map((f) => f.join(', ')) },
  { weight: 6, arbitrary: fc.tuple(type, client, tx).map((f) => f.join(',')) },
  { weight: 2, arbitrary: fc.tuple(type, client, tx, amount).map(([a, b, c, d]) => `"${a}","${b}",${c},${d}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '   ',
      ',',
      ',,,',
      'deposit;1;2;3',
      'deposit,1,2,3,4',
      'type,client,tx,amount',
      'deposit',
      'deposit,1,2,5"0',
      'deposit, 1, 3, "4" x',
      ' "withdrawal" , "1" , "5" , "1.5" ',
    ),
  },
);
const header = fc.constantFrom(
  '',
  'type,client,tx,amount\n',
  'type, client, tx, amount\n',
  'Type,Amount,Tx,Client,Memo\n',
);
const stream = fc
  .tuple(header, fc.array(row, { maxLength: 120 }), fc.constantFrom('\n', '\r\n'))
  .map(([h, rows, eol]) => h + rows.map((r) => r + eol).join(''));

describe('sharded engine = sequential model', () => {
  it('gives identical accounts and rejections for 1, 2, 3 and 8 workers', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'payments-prop-'));
    await fc.assert(
      fc.asyncProperty(stream, async (text) => {
        const file = join(dir, 'input.csv');
        writeFileSync(file, text);
        const expected = runSequentialModel(text);
        for (const workers of [1, 2, 3, 8]) {
          const actual = await runCsv(file, workers, join(dir, 'rejects.csv'));
          expect({ workers, ...actual }).toEqual({ workers, ...expected });
        }
      }),
      { numRuns: 20 },
    );
  });
});
