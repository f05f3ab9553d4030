import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromFailureData, RunError, runFailure, toFailureData } from '../../src/errors.js';
import { validateManifest } from '../../src/journal/manifest.js';
import { journalFormatVersion } from '../../src/journal/format.js';
import { openDatabase } from '../../src/journal/sqlite/schema.js';
import { accountLayout, batchLayout, ColumnLayout, recordLayout, txPartLayout } from '../../src/layout.js';

const tmp = mkdtempSync(join(tmpdir(), 'payments-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('column layouts', () => {
  it('declare the row sizes the wire and journal formats use', () => {
    expect(batchLayout.rowBytes).toBe(23);
    expect(recordLayout.rowBytes).toBe(25);
    expect(accountLayout.rowBytes).toBe(19);
    expect(txPartLayout.rowBytes).toBe(16);
  });

  it('place each column after the ones before it, aligned', () => {
    const rows = 3;
    const { data, columns } = batchLayout.allocate(rows);
    expect(columns.amounts.byteOffset - data.byteOffset).toBe(0);
    expect(columns.lines.byteOffset - data.byteOffset).toBe(8 * rows);
    expect(columns.txs.byteOffset - data.byteOffset).toBe(16 * rows);
    expect(columns.clients.byteOffset - data.byteOffset).toBe(20 * rows);
    expect(columns.kinds.byteOffset - data.byteOffset).toBe(22 * rows);
    columns.txs[2] = 0xffffffff;
    const decoded = batchLayout.decode(data.subarray(0));
    expect(decoded.rows).toBe(rows);
    expect(decoded.columns.txs[2]).toBe(0xffffffff);
  });

  it('refuse a narrower column before a wider one (it could not be aligned)', () => {
    expect(() => new ColumnLayout({ a: Uint8Array, b: Float64Array })).toThrow(/wider than the one before/);
  });

  it('refuse a blob that is not a whole number of rows', () => {
    expect(() => accountLayout.decode(new Uint8Array(20))).toThrow(/not a whole number/);
  });
});

describe('the manifest schema', () => {
  const good = {
    format: 'payments-journal',
    formatVersion: journalFormatVersion,
    shards: 2,
    input: { name: 'x.csv', size: 10, headCrc: 1, tailCrc: 2 },
    committedLine: 0,
    complete: false,
    createdAt: 'now',
    updatedAt: 'now',
  };
  it('accepts what the program writes', () => {
    expect(validateManifest(good, 'm.json')).toEqual(good);
  });
  for (const [field, value] of [
    ['shards', 0],
    ['shards', 65],
    ['shards', 1.5],
    ['shards', '2'],
    ['shards', null],
    ['committedLine', -1],
    ['complete', 1],
    ['formatVersion', journalFormatVersion + 1],
    ['formatVersion', journalFormatVersion - 1],
    ['formatVersion', 1],
  ] as const) {
    it(`refuses ${field}: ${JSON.stringify(value)} (exit 2)`, () => {
      const error = (() => {
        try {
          validateManifest({ ...good, [field]: value }, 'm.json');
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(RunError);
      expect((error as RunError).exitCode).toBe(2);
      expect((error as RunError).message).toMatch(/^m\.json: /);
    });
  }
});

describe('errors across threads', () => {
  it('keep kind, message, exit code and the SQLite code', () => {
    const error = new RunError('journal partition 1 (p): database or disk is full (SQLITE_FULL)', 1, {
      kind: 'failure',
      code: 'SQLITE_FULL',
    });
    const back = fromFailureData(structuredClone(toFailureData(error)));
    expect(back).toMatchObject({ kind: 'failure', exitCode: 1, code: 'SQLITE_FULL', message: error.message });
    expect(fromFailureData(toFailureData(runFailure('x'))).code).toBeUndefined();
  });

  it('a missing better-sqlite3 binding is its own error with the rebuild hint, not "journal corrupt"', () => {
    const error = (() => {
      try {
        openDatabase(join(tmp, 'p.sqlite'), 'journal partition 0', false, join(tmp, 'missing', 'better_sqlite3.node'));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ kind: 'native-module', exitCode: 2 });
    expect((error as Error).message).toMatch(/run npm rebuild better-sqlite3/);
  });
});
