/**
 * Keywords fold ASCII letters only: a non-ASCII look-alike (KELVIN SIGN U+212A lower-cases to `k`)
 * never passes for a transaction type, a header name, a delimiter name or a boolean.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { environmentFor } from '../../src/cli/options.js';
import { reasonOf } from '../../src/domain/rejection.js';
import { txTypeCode, txTypes } from '../../src/domain/transaction.js';
import { chooseDelimiter } from '../../src/io/delimiter.js';
import {
  ByteFields,
  StringFields,
  headerlessLayout,
  judge,
  otherDelimiterOf,
  readHeader,
  rowOk,
  scanStandardRow,
  type ParsedRow,
} from '../../src/io/row.js';
import { asciiLowerCase, isKeyword } from '../../src/text.js';

/** The reference fold: A-Z to a-z, one character at a time, nothing else. */
const reference = (s: string): string =>
  Array.from(s, (ch) => (ch >= 'A' && ch <= 'Z' ? String.fromCharCode(ch.charCodeAt(0) + 32) : ch)).join('');

// Characters whose toLowerCase/toUpperCase is or holds ASCII, and the keywords' own letters.
const lookAlikes = ['\u212a', '\u017f', '\u0131', '\u0130', '\u00df', '\ufb01', '\uff4b', '\u0430', '\u0435'];
const letters = [...new Set([...'depositwhdrawlsuvcgbkmnyxfa'].flatMap((c) => [c, c.toUpperCase()]))];
const char = fc.constantFrom(...letters, ...lookAlikes, ' ', '1');
const word = fc.oneof(
  fc.array(char, { maxLength: 11 }).map((cs) => cs.join('')),
  // a keyword with one character swapped for anything: the near misses that matter
  fc
    .tuple(fc.constantFrom(...txTypes, 'type', 'client', 'tx', 'amount', 'tab', 'true', 'false'), fc.nat(), char)
    .map(([k, i, c]) => k.slice(0, i % k.length) + c + k.slice((i % k.length) + 1)),
  fc.string({ maxLength: 11 }),
);

const judged = (type: string): ParsedRow | string => {
  const out: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
  const row = new StringFields();
  row.fields = [type, '1', '2', '3'];
  const code = judge(row, headerlessLayout, out);
  return code === rowOk ? out : reasonOf(code);
};

describe('ASCII-only keyword folding', () => {
  it('asciiLowerCase maps A-Z and nothing else', () =>
    fc.assert(
      fc.property(fc.oneof(word, fc.string({ unit: 'binary' })), (s) => {
        expect(asciiLowerCase(s)).toBe(reference(s));
      }),
      { numRuns: 2000 },
    ));

  it('isKeyword accepts exactly the strings whose ASCII lower case is the keyword', () =>
    fc.assert(
      fc.property(word, fc.constantFrom(...txTypes, 'type', 'tab'), (s, k) => {
        expect(isKeyword(s, k)).toBe(reference(s) === k);
      }),
      { numRuns: 2000 },
    ));

  it('chargebac\\u212a (KELVIN SIGN) is unknown_type, not a chargeback', () => {
    expect(txTypeCode('chargebac\u212a')).toBe(-1);
    expect(judged('chargebac\u212a')).toBe('unknown_type');
    expect(judged('CHARGEBAC\u212a')).toBe('unknown_type');
    expect(judged('CHARGEBACK')).toMatchObject({ typeCode: 4 });
  });

  it('a type is read iff its ASCII lower case names one (decoded-string path)', () =>
    fc.assert(
      fc.property(word, (s) => {
        const code = txTypes.indexOf(reference(s.trim()) as never);
        const verdict = judged(s);
        if (code < 0) expect(verdict).toBe('unknown_type');
        else expect(verdict).toMatchObject({ typeCode: code });
      }),
      { numRuns: 2000 },
    ));

  it('the byte paths (one-pass scanner, ByteFields) agree with the string path on any type', () =>
    fc.assert(
      fc.property(word, (s) => {
        const line = `${s},1,2,3`;
        const bytes = Buffer.from(line, 'utf8');
        const expected = judged(s);
        const scanned: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
        const end = scanStandardRow(bytes, 0, 44, 4, scanned);
        if (end >= 0) expect(scanned).toEqual(expected); // the scanner may decline, never disagree
        // ByteFields sees only ASCII text (the reader sends anything else the decoded way).
        if (bytes.length !== line.length) return;
        const fields = new ByteFields(Int32Array.of(0), Int32Array.of(s.length));
        fields.bytes = bytes;
        fields.count = 4;
        const viaBytes = fields.typeCode(0);
        expect(viaBytes).toBe(typeof expected === 'string' ? -1 : expected.typeCode);
      }),
      { numRuns: 2000 },
    ));

  it('a header is a header iff its first field folds to `type`; columns are found the same way', () =>
    fc.assert(
      fc.property(word, word, (first, second) => {
        const result = readHeader([first, second, 'client', 'tx']);
        if (reference(first.trim()) !== 'type') {
          expect(result).toEqual({ kind: 'data' });
          return;
        }
        const amount = reference(second.trim()) === 'amount' ? 1 : -1;
        const client = reference(second.trim()) === 'client' ? 1 : 2;
        expect(result).toMatchObject({ kind: 'header', layout: { client, amount } });
      }),
      { numRuns: 2000 },
    ));

  it("a ';' header is spotted only by ASCII names", () =>
    fc.assert(
      fc.property(word, (name) => {
        const found = otherDelimiterOf([`${name};client;tx`], ',');
        expect(found).toBe(reference(name.trim()) === 'type' ? ';' : undefined);
      }),
      { numRuns: 2000 },
    ));

  it('--delimiter tab in any ASCII case is a tab; a look-alike is refused as more than one character', () => {
    for (const spelling of ['tab', 'TAB', 'Tab']) expect(chooseDelimiter(spelling, 'x.csv').delimiter).toBe('\t');
    fc.assert(
      fc.property(word, (s) => {
        let delimiter: string | undefined;
        try {
          delimiter = chooseDelimiter(s, 'x.csv').delimiter;
        } catch {
          delimiter = undefined;
        }
        if (reference(s) === 'tab') expect(delimiter).toBe('\t');
        else expect(delimiter).not.toBe('\t');
      }),
    );
  });

  it('a boolean from the environment folds ASCII only', () => {
    for (const [value, ok] of [
      ['TRUE', true],
      ['False', true],
      ['tru\u0435', false], // Cyrillic e
      ['constructor', false], // a key of every object, not an accepted spelling
      ['__proto__', false],
    ] as const) {
      const env: NodeJS.ProcessEnv = { PAYMENTS_QUIET: value };
      if (ok) expect(() => environmentFor(['quiet'], ['quiet'], env)).not.toThrow();
      else expect(() => environmentFor(['quiet'], ['quiet'], env)).toThrow(/PAYMENTS_QUIET=/);
    }
  });
});
