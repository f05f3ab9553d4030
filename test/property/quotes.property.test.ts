/**
 * SPEC "Quotes that are not RFC 4180": random files with stray quotes in random fields, read by the
 * streaming reader (cut into random reads) and routed, against a line-by-line model of what each
 * generated line must become. Every physical line is accounted for:
 * header + blank + rows = physical lines − line breaks inside closed quoted fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readRowChunks, type ReadStats } from '../../src/io/csv-reader.js';
import { reasonCode } from '../../src/domain/rejection.js';
import { ChunkRouter, reasonSlots } from '../../src/pipeline/router.js';
import { chunkedSource } from '../helpers/chunked-source.js';

/** A generated line of the file, with what the model expects of it. */
interface Line {
  text: string;
  blank: boolean;
  malformed: boolean;
  /** Line feeds inside its closed quoted fields. */
  quotedBreaks: number;
}

const singleLine = fc.oneof(
  fc.constantFrom('ok', '', ' 12 ', 'é€', '"quoted, fine"', ' "x""y" ', '""'),
  fc.string({ unit: fc.constantFrom('a', ' ', '.', '\t'), maxLength: 4 }),
);
const multiLine = fc.constantFrom('"two\nlines"', '"a\r\nb\nc"', ' "x\n""y""" ');
const stray = fc.constantFrom('"Acme" Inc', '5"0', 'x"', ' "a"b', '"a\nb" c', '"""" "', 'a"b"c');

const row = (tx: number): fc.Arbitrary<Line> =>
  fc
    .record({
      strayAt: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
      strayText: stray,
      memo: fc.oneof(singleLine, multiLine),
      after: singleLine,
    })
    .map(({ strayAt, strayText, memo, after }) => {
      const fields = ['deposit', String(tx % 7), String(tx), '1.5', memo];
      let quotedBreaks = 0;
      if (strayAt === undefined) {
        quotedBreaks = (memo.match(/\n/g) ?? []).length;
      } else {
        // After the stray quote the row ends at the next line break: keep later fields on one line.
        fields[strayAt] = strayText;
        for (let k = strayAt + 1; k < fields.length; k++) if (fields[k]!.includes('\n')) fields[k] = after;
        // Only a closed quoted field before the stray point can hold line breaks ('"a\nb" c').
        quotedBreaks = strayText.startsWith('"a\n') ? 1 : 0;
      }
      return { text: fields.join(','), blank: false, malformed: strayAt !== undefined, quotedBreaks };
    });

const blank = fc
  .constantFrom('', '   ', '\t', '""')
  .map((text) => ({ text, blank: true, malformed: false, quotedBreaks: 0 }));

const file = fc
  .array(fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }), {
    maxLength: 40,
  })
  .chain((kinds) => fc.tuple(...kinds.map((kind, i) => (kind === 1 ? blank : row(i + 1)))))
  .chain((lines) =>
    fc.record({
      lines: fc.constant(lines as Line[]),
      crlf: fc.boolean(),
      finalNewline: fc.boolean(),
      sizes: fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 4 }),
    }),
  );

const source = chunkedSource;

const malformedRow = reasonCode('malformed_row');

describe('stray quotes: every physical line accounted for', () => {
  it('rows after a stray quote survive, each malformed row is rejected on its own line, the counts add up', () =>
    fc.assert(
      fc.asyncProperty(file, async ({ lines, crlf, finalNewline, sizes }) => {
        // An empty last line with no line break after it is no line at all.
        fc.pre(finalNewline || lines.at(-1)?.text !== '');
        const eol = crlf ? '\r\n' : '\n';
        const all: Line[] = [
          { text: 'type,client,tx,amount,memo', blank: false, malformed: false, quotedBreaks: 0 },
          ...lines,
        ];
        let text = all.map((l) => l.text).join(eol);
        if (finalNewline) text += eol;

        // The model: each generated line starts at the line after the previous one's last line.
        const expectedMalformed: number[] = [];
        let physical = 0;
        for (const line of all) {
          if (line.malformed) expectedMalformed.push(physical + 1);
          physical += 1 + line.quotedBreaks;
        }

        const router = new ChunkRouter(2, 'test', true);
        const stats: ReadStats = { lines: 0, quotedLineBreaks: 0 };
        const malformedLines: number[] = [];
        let rows = 0;
        for await (const chunk of readRowChunks(source(Buffer.from(text), sizes), { delimiter: ',' }, stats)) {
          const routed = router.route(chunk);
          rows += routed.dataRows;
          for (const key of routed.rejectedKeys)
            if (key % reasonSlots === malformedRow)
              malformedLines.push(routed.rowAt!(Math.floor(key / reasonSlots)).line);
        }
        expect(malformedLines).toEqual(expectedMalformed);
        expect(stats.lines).toBe(physical);
        expect(rows).toBe(lines.filter((l) => !l.blank).length);
        expect(router.blankLines).toBe(lines.filter((l) => l.blank).length);
        expect(router.headerLines).toBe(1);
        expect(stats.quotedLineBreaks).toBe(all.reduce((n, l) => n + l.quotedBreaks, 0));
        expect(router.headerLines + router.blankLines + rows).toBe(stats.lines - stats.quotedLineBreaks);
      }),
      { numRuns: 400 },
    ));
});
