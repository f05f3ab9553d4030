/**
 * The quote-aware splitter: SPEC "Quotes that are not RFC 4180" case by case, and papaparse as the
 * reference on well-formed RFC 4180 input (where the two must agree field for field).
 */
import fc from 'fast-check';
import Papa from 'papaparse';
import { describe, expect, it } from 'vitest';
import { splitRows, UnterminatedQuote } from '../../src/io/quoted-rows.js';

const split = (text: string, delimiter = ',') => {
  const result = splitRows(text, delimiter, 1, true);
  return result.rows.map((fields, i) => [result.lines[i], result.malformed.includes(i) ? 'malformed' : 'ok', fields]);
};

describe('splitRows: quotes by SPEC second edition', () => {
  it('decodes RFC 4180 fields: doubled quotes, delimiters and line breaks inside quotes', () =>
    expect(split('"a""b","c,d","e\nf"\nx,y\n')).toEqual([
      [1, 'ok', ['a"b', 'c,d', 'e\nf']],
      [3, 'ok', ['x', 'y']],
    ]));

  it('allows white space before an opening quote and after a closing one (CRLF too)', () =>
    expect(split('deposit, "1" ,\t"2"\r\n')).toEqual([[1, 'ok', ['deposit', '1', '2']]]));

  it('text after a closing quote makes the row malformed; the next line is a row again', () =>
    expect(split('deposit,1,1,5,"Acme" Inc\ndeposit,2,2,7\n')).toEqual([
      [1, 'malformed', ['deposit', '1', '1', '5', '"Acme" Inc']],
      [2, 'ok', ['deposit', '2', '2', '7']],
    ]));

  it('a quote inside an unquoted field makes the row malformed, whatever follows on its line', () =>
    expect(split('deposit,1,1,5"0,"open\ndeposit,2,2,7\n')).toEqual([
      [1, 'malformed', ['deposit', '1', '1', '5"0', '"open']],
      [2, 'ok', ['deposit', '2', '2', '7']],
    ]));

  it('a malformed row after a quoted line break starts where its row starts', () => {
    const result = splitRows('x,"a\nb" junk\nnext\n', ',', 5, true);
    expect(result.lines).toEqual([5, 7]);
    expect(result.malformed).toEqual([0]);
    expect(result.quotedLineBreaks).toBe(1);
    expect(result.nextLine).toBe(8);
  });

  it('an unterminated quote names the line where it opened', () => {
    expect(() => splitRows('a,b\nc,"x\ny""\n', ',', 1, true)).toThrow(UnterminatedQuote);
    try {
      splitRows('a,"b\nc",d\ne,"open\nmore\n', ',', 1, true);
    } catch (error) {
      expect((error as UnterminatedQuote).line).toBe(3);
    }
    expect.assertions(2);
  });

  it('leaves an open row for the next read unless final', () => {
    const result = splitRows('a,b\nc,"x\ny', ',', 1, false);
    expect(result.rows).toEqual([['a', 'b']]);
    expect(result.cursor).toBe(4);
    expect(result.openQuoteLine).toBe(2);
  });

  it('splits on the given delimiter; a tab is then not white space', () => {
    expect(split('a;"b;c";d\n', ';')).toEqual([[1, 'ok', ['a', 'b;c', 'd']]]);
    expect(split('\t"x"\ty\n', '\t')).toEqual([[1, 'ok', ['', 'x', 'y']]]);
  });
});

// Well-formed input only: every quote opens a field at its first character and is closed properly.
const plain = (delimiter: string) =>
  fc
    .array(fc.constantFrom('a', 'Z', '1', '.', ' ', 'é', '€', '\r', delimiter === ';' ? ',' : ';'), { maxLength: 6 })
    .map((p) => p.join(''));
const quoted = (delimiter: string) =>
  fc
    .array(fc.constantFrom('a', '""', delimiter, '\n', '\r\n', ' ', '𝄞'), { maxLength: 6 })
    .map((p) => `"${p.join('')}"`);
const wellFormed = fc.constantFrom(',', ';', '\t').chain((delimiter) =>
  fc
    .array(fc.array(fc.oneof(plain(delimiter), quoted(delimiter)), { minLength: 1, maxLength: 5 }), {
      minLength: 1,
      maxLength: 12,
    })
    .map((rows) => ({ delimiter, text: rows.map((fields) => fields.join(delimiter)).join('\n') })),
);

describe('splitRows against papaparse', () => {
  it('gives the same fields on well-formed RFC 4180 input', () =>
    fc.assert(
      fc.property(wellFormed, ({ delimiter, text }) => {
        const reference = Papa.parse<string[]>(text, { delimiter, newline: '\n', quoteChar: '"' });
        expect(reference.errors).toEqual([]);
        // A text ending in a line break has no line after it; papaparse reports one empty row there.
        if (text.endsWith('\n')) reference.data.pop();
        const ours = splitRows(text, delimiter, 1, true);
        expect(ours.malformed).toEqual([]);
        expect(ours.rows).toEqual(reference.data);
      }),
      { numRuns: 2000 },
    ));
});
