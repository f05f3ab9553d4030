/**
 * scanStandardRow (the parsing thread's one-pass path) against judge (SPEC's checks): on any line,
 * the scanner either declines (-1, and judge decides) or reads exactly what judge reads from the
 * same line split on the delimiter. It never accepts a row judge rejects.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteFields,
  headerlessLayout,
  judge,
  rowOk,
  scanStandardRow,
  StringFields,
  type ColumnLayout,
  type ParsedRow,
} from '../../src/io/row.js';

const headerLayout = { hasHeader: true, type: 0, client: 1, tx: 2, amount: 3 };

function viaJudge(line: string, hasHeader: boolean, delimiter = ','): ParsedRow | 'rejected' {
  const out: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
  const fields = new StringFields();
  fields.fields = line.split(delimiter);
  return judge(fields, hasHeader ? headerLayout : headerlessLayout, out) === rowOk ? out : 'rejected';
}

/** The scanner on the text's bytes (latin1: one byte per char, so offsets are the same). */
function viaScan(text: string, at: number, hasHeader: boolean, delimiter = ','): { end: number; row: ParsedRow } {
  const row: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
  const bytes = Buffer.from(text, 'latin1');
  const end = scanStandardRow(bytes, at, delimiter.charCodeAt(0), hasHeader ? Number.POSITIVE_INFINITY : 4, row);
  return { end, row };
}

const space = fc.constantFrom('', ' ', '  ', '\t', '\r', '\v');
const piece = fc.constantFrom(
  'deposit',
  'withdrawal',
  'dispute',
  'resolve',
  'chargeback',
  'Deposit',
  'deposits',
  'dispute1',
  'refund',
  '',
  '0',
  '1',
  '007',
  '65535',
  '65536',
  '4294967295',
  '4294967296',
  '1.5',
  '.5',
  '5.',
  '1.00001',
  '1.50000',
  '0.0000',
  '900719925474.0991',
  '900719925474.0992',
  '1e2',
  '-1',
  'x',
  ' ',
  '1 2',
);
const field = fc.tuple(space, piece, space).map(([a, b, c]) => a + b + c);
const anyLine = fc.array(field, { minLength: 1, maxLength: 6 });
// Mostly well-formed rows, so that the scanner's accepting path is exercised as much as its declining one.
const plainSpace = fc.constantFrom('', ' ', ' ', '\t');
const pad = (a: fc.Arbitrary<string>) => fc.tuple(plainSpace, a, plainSpace).map(([x, y, z]) => x + y + z);
const likelyRow = fc
  .tuple(
    pad(fc.constantFrom('deposit', 'withdrawal', 'dispute', 'resolve', 'chargeback')),
    pad(fc.integer({ min: 0, max: 70000 }).map(String)),
    pad(fc.oneof(fc.nat().map(String), fc.constant('4294967296'))),
    fc.option(
      pad(
        fc.oneof(
          piece,
          fc.integer({ min: 1, max: 1e9 }).map((u) => (u / 1e4).toString()),
        ),
      ),
      { nil: undefined },
    ),
  )
  .map(([t, c, x, a]) => [t, c, x, ...(a === undefined ? [] : [a])]);
// A line's fields, joined with the delimiter under test (a tab is then a delimiter, not white space).
const lineFields = fc.oneof(anyLine, likelyRow);

describe('scanStandardRow', () => {
  it('declines or agrees with judge on any line, with and without a header, for each fast delimiter', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        lineFields,
        fc.boolean(),
        fc.constantFrom('', '\n', '\r\n'),
        fc.string({ maxLength: 3 }),
        fc.constantFrom(',', ',', '\t', ';', '|'),
        (fields, header, eol, before, delimiter) => {
          const l = fields.join(delimiter);
          const text = `${before.replace(/\n/g, '')}\n${l}${eol}${eol === '' ? '' : 'next'}`; // '': the text's end
          const at = text.indexOf('\n') + 1;
          const { end, row } = viaScan(text, at, header, delimiter);
          if (end < 0) return;
          accepted++;
          expect(end).toBe(at + l.length + (eol === '\r\n' ? 1 : 0));
          if (eol !== '') expect(text.charCodeAt(end)).toBe(10);
          expect(row).toEqual(viaJudge(l.replace(/\r$/, ''), header, delimiter));
        },
      ),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(500); // the accepting path was exercised
  });

  it('reads the common rows in one pass (does not decline them)', () => {
    const text =
      'deposit, 1, 2, 1.5\nwithdrawal,65535,4294967295,900719925474.0991\r\ndispute, 3, 4\nresolve, 3, 4,\nchargeback\t,3,4, x';
    const rows: ParsedRow[] = [];
    for (let at = 0; at < text.length;) {
      const { end, row } = viaScan(text, at, false);
      expect(end).toBeGreaterThanOrEqual(0);
      rows.push(row);
      at = end + 1;
    }
    expect(rows).toEqual([
      { typeCode: 0, client: 1, tx: 2, amount: 15000 },
      { typeCode: 1, client: 65535, tx: 4294967295, amount: 9007199254740991 },
      { typeCode: 2, client: 3, tx: 4, amount: 0 },
      { typeCode: 3, client: 3, tx: 4, amount: 0 },
      { typeCode: 4, client: 3, tx: 4, amount: 0 },
    ]);
  });

  it('declines what judge rejects or reads differently', () => {
    for (const l of [
      'deposit, 1, 2',
      'deposit, 1, 2, ',
      'deposit, 1, 2, 3, 4',
      'Deposit, 1, 2, 3',
      'dispute, 1, 2, 3, 4',
      'deposit, 65536, 2, 3',
      'deposit, 1, 2, 0',
    ])
      expect(viaScan(l, 0, false).end).toBe(-1);
  });

  it('with a tab as the delimiter, reads spaces as white space and tabs as separators', () => {
    expect(viaScan('deposit\t 1 \t2\t1.5 \r', 0, false, '\t')).toEqual({
      end: 19,
      row: { typeCode: 0, client: 1, tx: 2, amount: 15000 },
    });
    expect(viaScan('deposit\t1\t\t2\t1.5', 0, false, '\t').end).toBe(-1); // an empty field: five fields
    expect(viaScan('deposit, 1, 2, 1.5', 0, false, '\t').end).toBe(-1); // one field when split on tabs
  });

  it('stops at the end of the bytes it is given (a subarray), not of the buffer under it', () => {
    const whole = Buffer.from('deposit,1,2,3.5xyz', 'latin1');
    const row: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
    expect(scanStandardRow(whole.subarray(0, 15), 0, 44, 4, row)).toBe(15);
    expect(row).toEqual({ typeCode: 0, client: 1, tx: 2, amount: 35000 });
    expect(scanStandardRow(whole, 0, 44, 4, row)).toBe(-1);
  });
});

describe('ByteFields (the general path over bytes)', () => {
  /** judge on the line's fields as trimmed byte ranges, as the router splits them. */
  function viaBytes(line: string, layout: ColumnLayout): [number, ParsedRow] {
    const bytes = Buffer.from(`x\n${line}\ny`, 'latin1');
    const fields = new ByteFields(new Int32Array(8), new Int32Array(8));
    let start = 2;
    const parts = line.split(',');
    parts.forEach((part, k) => {
      let s = start;
      let e = start + part.length;
      while (s < e && /\s/.test(String.fromCharCode(bytes[s]!))) s++;
      while (e > s && /\s/.test(String.fromCharCode(bytes[e - 1]!))) e--;
      fields.starts[k] = s;
      fields.ends[k] = e;
      start += part.length + 1;
    });
    fields.bytes = bytes;
    fields.count = parts.length;
    const out: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
    return [judge(fields, layout, out), out];
  }
  function viaStrings(line: string, layout: ColumnLayout): [number, ParsedRow] {
    const fields = new StringFields();
    fields.fields = line.split(',');
    const out: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
    return [judge(fields, layout, out), out];
  }
  const layout = fc.oneof(
    fc.constant(headerlessLayout),
    fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 4, maxLength: 4 }).chain(([type, client, tx, amount]) =>
      fc.boolean().map((noAmount) => ({
        hasHeader: true,
        type: type!,
        client: client!,
        tx: tx!,
        amount: noAmount ? -1 : amount!,
      })),
    ),
  );
  const mixedCase = fc.constantFrom('DEPOSIT', 'Withdrawal', 'disPute', 'RESOLVE', 'ChargeBack', 'deposi', 'xdeposit');

  it('gives judge the same verdict and values as StringFields, for any line and column layout', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(field, mixedCase), { minLength: 1, maxLength: 7 }), layout, (fields, layout) => {
        const line = fields.join(',');
        expect(viaBytes(line, layout)).toEqual(viaStrings(line, layout));
      }),
      { numRuns: 5000 },
    );
  });
});
