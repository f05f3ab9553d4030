/**
 * Splits text that holds quotes (or non-ASCII characters) into rows, by exactly the rules of SPEC
 * "Quotes that are not RFC 4180", so that every physical line is accounted for:
 *
 * - A field may start with white space and then a quote; it ends at its first quote that is not
 *   doubled (`""` is one quote) and may hold delimiters and line breaks.
 * - After that closing quote only white space may come before the delimiter or the line end.
 *   Anything else (`"Acme" Inc`), or a quote inside a field that did not start with one (`5"0`),
 *   makes the row malformed: from the point where that is found, the row ends at the next line
 *   break, quotes or not, and the line after it is read as a row again.
 * - A quote that opens a field and is still open at the end of the input is an error naming the
 *   line where it opened.
 *
 * Papaparse is lenient about broken quotes (it merges the following lines into a field, or drops
 * them), which is why this is written by hand; a property test checks it against papaparse on
 * well-formed input.
 */

const quoteCode = 34;
const lineFeedCode = 10;

export interface SplitResult {
  readonly rows: string[][];
  /** Line where each row starts. */
  readonly lines: number[];
  /** Indexes (ascending) of rows whose quotes are malformed. */
  readonly malformed: number[];
  /** Where the text not yet split starts (a row still open at the end of non-final text). */
  readonly cursor: number;
  readonly nextLine: number;
  /** Line breaks inside closed quoted fields (they do not start a row). */
  readonly quotedLineBreaks: number;
  /** When the open row at `cursor` is inside a quoted field: the line where that quote opened; else 0. */
  readonly openQuoteLine: number;
}

/** Thrown for a quote still open at the end of the input. */
export class UnterminatedQuote extends Error {
  constructor(readonly line: number) {
    super(`a quoted field opened at line ${line} is never closed`);
  }
}

/** White space as String.prototype.trim sees it. */
function isTrimSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * Splits `text`, whose first row starts at `firstLine`. Unless `final`, a row that is not ended by
 * a line break is left for the next call (see `cursor`).
 *
 * Longer than 70 lines on purpose: it runs per character of quoted or non-ASCII input, one state
 * machine over the text with its state (field start, quote state, line) in locals, in one pass.
 */
export function splitRows(text: string, delimiter: string, firstLine: number, final: boolean): SplitResult {
  const delim = delimiter.charCodeAt(0);
  const n = text.length;
  const rows: string[][] = [];
  const lines: number[] = [];
  const malformed: number[] = [];
  const space = (c: number) => c !== delim && c !== lineFeedCode && isTrimSpace(c);
  let line = firstLine;
  let pos = 0;
  let quotedLineBreaks = 0;
  let openQuoteLine = 0;

  rowLoop: while (pos < n) {
    const rowLine = line;
    let rowBreaks = 0;
    const fields: string[] = [];
    let fieldStart = pos;
    let badFrom = -1; // where the row was found malformed
    let rowEnd: number; // index after the row's line break (or n)
    for (;;) {
      let q = fieldStart;
      while (q < n && space(text.charCodeAt(q))) q++;
      if (q < n && text.charCodeAt(q) === quoteCode) {
        let value = '';
        let from = q + 1;
        let close: number;
        for (;;) {
          close = text.indexOf('"', from);
          if (close < 0) {
            const quoteLine = rowLine + countLineFeeds(text, pos, q); // earlier quoted fields' breaks
            if (!final) {
              openQuoteLine = quoteLine;
              break rowLoop;
            }
            throw new UnterminatedQuote(quoteLine);
          }
          if (text.charCodeAt(close + 1) === quoteCode) {
            value += text.slice(from, close + 1);
            from = close + 2;
            continue;
          }
          value += text.slice(from, close);
          break;
        }
        rowBreaks += countLineFeeds(text, q + 1, close);
        let r = close + 1;
        while (r < n && space(text.charCodeAt(r))) r++;
        const c = r < n ? text.charCodeAt(r) : -1;
        if (c === delim) {
          fields.push(value);
          fieldStart = r + 1;
          continue;
        }
        if (c === lineFeedCode || c < 0) {
          if (c < 0 && !final) break rowLoop;
          fields.push(value);
          rowEnd = c < 0 ? n : r + 1;
          break;
        }
        badFrom = r; // text after the closing quote
        break;
      }
      let r = fieldStart;
      let c = -1;
      for (; r < n; r++) {
        c = text.charCodeAt(r);
        if (c === delim || c === lineFeedCode || c === quoteCode) break;
      }
      if (r >= n) {
        if (!final) break rowLoop;
        fields.push(text.slice(fieldStart, n));
        rowEnd = n;
        break;
      }
      if (c === quoteCode) {
        badFrom = r; // a quote inside an unquoted field
        break;
      }
      fields.push(text.slice(fieldStart, r));
      if (c === delim) {
        fieldStart = r + 1;
        continue;
      }
      rowEnd = r + 1;
      break;
    }
    if (badFrom >= 0) {
      // Known malformed: the row ends at the next line break. Its remaining fields are the raw
      // text split on the delimiter, so the rejects file echoes what the line holds.
      let lineEnd = text.indexOf('\n', badFrom);
      if (lineEnd < 0) {
        if (!final) break rowLoop;
        lineEnd = n;
      }
      for (const raw of text.slice(fieldStart, lineEnd).split(delimiter)) fields.push(raw);
      rowEnd = lineEnd < n ? lineEnd + 1 : n;
      malformed.push(rows.length);
    }
    rows.push(fields);
    lines.push(rowLine);
    line += 1 + rowBreaks;
    quotedLineBreaks += rowBreaks;
    pos = rowEnd!;
  }
  return { rows, lines, malformed, cursor: pos, nextLine: line, quotedLineBreaks, openQuoteLine };
}

/** Line feeds in text[from, to). */
export function countLineFeeds(text: string, from: number, to: number): number {
  let count = 0;
  for (let at = text.indexOf('\n', from); at >= 0 && at < to; at = text.indexOf('\n', at + 1)) count++;
  return count;
}
