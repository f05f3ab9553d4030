/**
 * The streaming reader must give the same rows and line numbers however the input is cut into
 * reads: partial lines carried over, quoted line breaks straddling a read, a BOM, UTF-8 characters
 * split between reads. Checked against reading the whole input at once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineOf, readRowChunks, type InputSource } from '../../src/io/csv-reader.js';
import { chunkedSource } from '../helpers/chunked-source.js';

const source = chunkedSource;

/** Every row with its line; a text chunk is read before the next is asked for (its bytes are the read buffer). */
async function rowsOf(input: InputSource): Promise<[number, string[]][]> {
  const rows: [number, string[]][] = [];
  for await (const chunk of readRowChunks(input)) {
    if (chunk.kind === 'text') {
      let line = chunk.firstLine;
      const text = chunk.bytes.toString('latin1');
      const lines = text.split('\n');
      if (text.endsWith('\n')) lines.pop();
      expect(lines.length).toBe(chunk.lineCount);
      for (const l of lines) rows.push([line++, l.split(',')]);
    } else {
      chunk.rows.forEach((fields, i) =>
        rows.push([lineOf(chunk, i), chunk.malformed?.[i] ? ['!', ...fields] : fields]),
      );
    }
  }
  return rows;
}

const piece = fc.constantFrom('deposit', '1', '2.5', ' ', ',', ',', '\n', '\r\n', '"', '""', 'é', '€', '𝄞', 'x');
const quotedField = fc
  .array(fc.constantFrom('a', ',', '\n', '\r\n', '""', 'é'), { maxLength: 5 })
  .map((p) => `"${p.join('')}"`);
const text = fc
  .tuple(fc.boolean(), fc.array(fc.oneof(piece, quotedField), { maxLength: 60 }))
  .map(([bom, parts]) => (bom ? '\uFEFF' : '') + parts.join(''));

describe('readRowChunks', () => {
  it('gives the same rows and lines for any cut into reads', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        async (input, sizes) => {
          // Malformed rows and an unterminated quote (an error) must not depend on the cut either.
          const bytes = Buffer.from(input, 'utf8');
          const outcome = (cut: number[]) => rowsOf(source(bytes, cut)).catch((error: Error) => error.message);
          expect(await outcome(sizes)).toEqual(await outcome([bytes.length + 1]));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('reads many small reads of plain rows as text chunks, lines numbered across them', async () => {
    const input = Array.from({ length: 400 }, (_, i) => `deposit, ${i % 7}, ${i}, ${i}.5\r\n`).join('');
    const rows = await rowsOf(source(Buffer.from(input), [97, 1000, 13]));
    expect(rows).toHaveLength(400);
    rows.forEach(([line, fields], i) => {
      expect(line).toBe(i + 1);
      expect(fields).toEqual(['deposit', ` ${i % 7}`, ` ${i}`, ` ${i}.5\r`]);
    });
  });

  it('numbers lines across quoted line breaks and strips the BOM', async () => {
    const input = '\uFEFFtype,client\r\n"a\nb",1\n\nx,"y\r\nz"\nlast';
    expect(await rowsOf(source(Buffer.from(input), [3]))).toEqual([
      [1, ['type', 'client\r']],
      [2, ['a\nb', '1']],
      [4, ['']],
      [5, ['x', 'y\r\nz']],
      [7, ['last']],
    ]);
  });

  it('a quoted field still open after 1 MiB stops at once, naming the line where it opened', async () => {
    const input = Buffer.from(`a,b\n\nc,"${'x\n'.repeat(600_000)}`);
    await expect(rowsOf(source(input, [64 << 10]))).rejects.toThrow(
      /^test:3: a quoted field opened on this line is never closed \(unterminated quote\)/,
    );
  });
});
