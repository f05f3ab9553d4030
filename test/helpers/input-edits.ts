/**
 * Edits of an input made after a journal was written, for the tests that a resume proves the input
 * it skips: each keeps the file's size (and so its fingerprint: size, first and last MiB) and
 * changes rows the journal holds, so that only the input proofs (and the record comparison) can
 * catch it. Offsets are chosen from the journal's own proofs: `boundary` is where one read ended
 * (a batch boundary of every shard), `next` where the read after it ended.
 */
import { gzipSync } from 'node:zlib';

const newline = 0x0a;
const space = 0x20;

/** Where the line holding `offset` starts and ends (its line feed's offset). */
function lineAround(bytes: Buffer, offset: number): { start: number; end: number } {
  const start = bytes.lastIndexOf(newline, offset - 1) + 1;
  return { start, end: bytes.indexOf(newline, offset) };
}

/** The line starting at or after `offset`. */
function lineFrom(bytes: Buffer, offset: number): { start: number; end: number } {
  return lineAround(bytes, bytes[offset - 1] === newline ? offset : bytes.indexOf(newline, offset) + 1);
}

/** Replaces a line's text by spaces: a blank line, so the row is gone (no line number moves). */
function blank(bytes: Buffer, line: { start: number; end: number }): void {
  bytes.fill(space, line.start, line.end);
}

/** The line number (1-based) of `offset`. */
export function lineNumberAt(bytes: Buffer, offset: number): number {
  let n = 1;
  for (let i = bytes.indexOf(newline); i >= 0 && i < offset; i = bytes.indexOf(newline, i + 1)) n++;
  return n;
}

export interface InputEdit {
  readonly name: string;
  /** A copy of `original`, edited, of the same length; and the first line it changes. */
  apply(original: Buffer, boundary: number, next: number): { bytes: Buffer; line: number };
}

export const inputEdits: readonly InputEdit[] = [
  {
    name: 'the rows either side of a batch boundary removed (blanked)',
    apply(original, boundary) {
      const bytes = Buffer.from(original);
      const before = lineAround(bytes, boundary - 1);
      blank(bytes, before);
      blank(bytes, lineFrom(bytes, boundary));
      return { bytes, line: lineNumberAt(bytes, before.start) };
    },
  },
  {
    name: 'a row in the middle of a batch removed (blanked)',
    apply(original, boundary, next) {
      const bytes = Buffer.from(original);
      const line = lineAround(bytes, Math.floor((boundary + next) / 2));
      blank(bytes, line);
      return { bytes, line: lineNumberAt(bytes, line.start) };
    },
  },
  {
    name: 'a row added (the rows after it compacted to make room)',
    apply(original, boundary, next) {
      const bytes = Buffer.from(original);
      const added = Buffer.from('dispute, 7, 1\n');
      const first = lineFrom(bytes, Math.floor((boundary + next) / 2));
      // Drop the spaces of the following lines until the added row fits, then pad it with spaces.
      let at = first.start;
      const compacted: number[] = [];
      while (at - first.start - compacted.length < added.length) {
        const end = bytes.indexOf(newline, at) + 1;
        for (let i = at; i < end; i++) if (bytes[i] !== space) compacted.push(bytes[i]!);
        at = end;
      }
      const room = at - first.start - compacted.length;
      const row = Buffer.concat([
        added.subarray(0, added.length - 1),
        Buffer.alloc(room - added.length, space),
        Buffer.from('\n'),
      ]);
      Buffer.concat([row, Buffer.from(compacted)]).copy(bytes, first.start);
      return { bytes, line: lineNumberAt(bytes, first.start) };
    },
  },
  {
    name: 'a byte changed in a malformed row (client -1 made -2: still rejected the same way)',
    apply(original, boundary, next) {
      const bytes = Buffer.from(original);
      const at = bytes.indexOf(', -1,', boundary);
      if (at < 0 || at >= next) throw new Error('test input: no row with client -1 between the proofs');
      bytes[at + 3] = '2'.charCodeAt(0);
      return { bytes, line: lineNumberAt(bytes, at) };
    },
  },
  {
    name: 'a byte changed in a blank line (a space made a tab)',
    apply(original, boundary, next) {
      const bytes = Buffer.from(original);
      const at = bytes.indexOf('\n     ', boundary); // rows never start with a space: a blank line
      if (at < 0 || at >= next) throw new Error('test input: no blank line between the proofs');
      bytes[at + 2] = 0x09;
      return { bytes, line: lineNumberAt(bytes, at + 1) };
    },
  },
];

/** The test input: the row at or after `at` made a blank line (spaces), for the blank-line edit. */
export function withBlankLine(original: Buffer, at: number): Buffer {
  const bytes = Buffer.from(original);
  blank(bytes, lineFrom(bytes, at));
  return bytes;
}

/**
 * Gzip of `text` as two members, the first stored (level 0, so its bytes sit in the file as they
 * are) and cut at a line break near `split`: an edit of the first member, gzipped again, leaves the
 * file's size and its first and last MiB as they were (the second member's trailer is the tail).
 */
export function twoMemberGzip(text: Buffer, split: number): Buffer {
  const cut = text.indexOf(newline, split) + 1;
  return Buffer.concat([gzipSync(text.subarray(0, cut), { level: 0 }), gzipSync(text.subarray(cut), { level: 0 })]);
}
