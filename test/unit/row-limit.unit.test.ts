/**
 * The row length limit is exact in every reader path: a row of exactly rowBytesMax bytes (1 MiB,
 * not counting its LF or CR LF) is read, one byte more is exit 1 naming the line where it starts.
 * Paths: a plain ASCII line (text chunks), a line with UTF-8 characters (decoded rows), a quoted
 * field spanning lines (carried between reads and pieces), LF and CRLF, the input's last line
 * with and without a line break; each under several ways of cutting the input into reads.
 */
import { describe, expect, it } from 'vitest';
import { rowBytesMax } from '../../src/constants.js';
import { readRowChunks, type InputSource } from '../../src/io/csv-reader.js';

function source(bytes: Buffer, size: number): InputSource {
  let at = 0;
  return {
    name: 'test',
    sizeBytes: bytes.length,
    read: async (buffer, offset, length) => {
      const n = Math.min(length, bytes.length - at, size);
      bytes.copy(buffer, offset, at, at + n);
      at += n;
      return n;
    },
    consumedBytes: () => at,
    close: async () => undefined,
  };
}

/** Reads everything: the rows' count, or the error's message. */
async function read(bytes: Buffer, size: number): Promise<number | string> {
  let rows = 0;
  try {
    for await (const chunk of readRowChunks(source(bytes, size)))
      rows += chunk.kind === 'text' ? chunk.lineCount : chunk.rows.length;
  } catch (error) {
    return (error as Error).message;
  }
  return rows;
}

/** A row of exactly `length` bytes, of the given kind. */
function rowOf(kind: Kind, length: number, eol: string): string {
  const start = 'deposit,1,2,';
  if (kind === 'ascii') return start + '9'.repeat(length - start.length);
  if (kind === 'utf8') {
    const euros = Math.floor((length - start.length) / 3); // € is 3 bytes
    return start + '€'.repeat(euros) + 'x'.repeat(length - start.length - 3 * euros);
  }
  // A quoted field with line breaks in it (they count), so the row spans several physical lines:
  // a few and then one long line, or a thousand lines of about a KiB (then no line is long).
  const body = kind === 'quoted' ? `a${eol}b`.repeat(4) : `${'é'.repeat(500)}${eol}`.repeat(1000);
  return `${start}"${body}${'q'.repeat(length - start.length - 2 - Buffer.byteLength(body))}"`;
}

const tooLong =
  /^test:2: a row longer than 1 MiB \(1048576 bytes, not counting its line break\); fix the row and run again$/;

type Kind = 'ascii' | 'utf8' | 'quoted' | 'quoted-lines';

describe.each(['ascii', 'utf8', 'quoted', 'quoted-lines'] as const)('a %s row at the limit', (kind) => {
  describe.each(['\n', '\r\n'])('ending %j', (eol) => {
    // 512 KiB reads (the reader's own size), odd small reads, and one read for everything.
    it.each([512 << 10, 65_537, 8 << 20])(
      'reads limit-1 and limit, refuses limit+1 (reads of %i bytes)',
      async (size) => {
        for (const [length, last] of [
          [rowBytesMax - 1, false],
          [rowBytesMax, false],
          [rowBytesMax, true],
        ] as const) {
          const text = `type,client,tx,amount${eol}${rowOf(kind, length, eol)}${last ? '' : `${eol}deposit,1,3,1${eol}`}`;
          const bytes = Buffer.from(text, 'utf8');
          expect(Buffer.byteLength(rowOf(kind, length, eol))).toBe(length);
          expect(await read(bytes, size), `${length} bytes${last ? ', last line' : ''}`).toBe(last ? 2 : 3);
        }
        for (const last of [false, true]) {
          const text = `type,client,tx,amount${eol}${rowOf(kind, rowBytesMax + 1, eol)}${last ? '' : `${eol}deposit,1,3,1${eol}`}`;
          expect(await read(Buffer.from(text, 'utf8'), size), `limit+1${last ? ', last line' : ''}`).toMatch(tooLong);
        }
      },
    );
  });
});
