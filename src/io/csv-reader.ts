/**
 * Streams an input (file or stdin) through papaparse's parser one read at a time, so memory stays
 * bounded whatever the file size. Each read becomes one `RowChunk`: the complete rows it holds (the
 * partial last row is carried into the next read) and the physical line where each row starts.
 *
 * Papaparse's own stream mode is not used: its pause/resume re-parses the current chunk, and its
 * Buffer-to-string conversion splits multi-byte characters at read boundaries. Driving its Parser
 * directly gives exact line numbers and lets the caller's `await` be the backpressure.
 */
import { open, stat } from 'node:fs/promises';
import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import Papa from 'papaparse';
import { readChunkBytes, rowCharsMax } from '../constants.js';
import { RunError, errorCode, runFailure, usageError } from '../errors.js';

/**
 * One read's worth of complete rows, in one of two forms:
 * - `text`: ASCII text with no quote character, ending at a line break (or the end of input). Every
 *   line is one row and its fields are the text between commas, so the router reads them in place.
 * - `rows`: papaparse's decoded rows, for text with quotes or non-ASCII characters (RFC 4180 rules,
 *   line breaks inside quoted fields), or a row carried over from the previous read.
 */
export type RowChunk = TextChunk | RowsChunk;

export interface TextChunk {
  readonly kind: 'text';
  /**
   * The text in pieces of at most `textPieceBytes`, each ending at a line break: V8 places strings
   * over ~128 KB in large-object space, which made decoding a 256 KiB read 80× slower (measured).
   */
  readonly texts: readonly string[];
  /** Rows (lines) in each piece. */
  readonly lineCounts: readonly number[];
  readonly firstLine: number;
  readonly lineCount: number;
  readonly bytesRead: number;
}

const textPieceBytes = 64 << 10;

export interface RowsChunk {
  readonly kind: 'rows';
  /** Rows as papaparse decodes them (blank lines included, as one empty field). */
  readonly rows: string[][];
  /** Line where row i starts: firstLine + i, unless some row spans lines (quoted line breaks). */
  readonly firstLine: number;
  readonly lines: Float64Array | undefined;
  readonly bytesRead: number;
}

export function lineOf(chunk: RowsChunk, index: number): number {
  return chunk.lines === undefined ? chunk.firstLine + index : chunk.lines[index]!;
}

export interface InputSource {
  readonly name: string;
  readonly sizeBytes: number | undefined;
  /** Reads up to `length` bytes into `buffer` at `offset`; 0 at the end of the input. */
  read(buffer: Buffer, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/** Opens a path or `-` (stdin); a missing, unreadable or directory input is a usage error (exit 2). */
export async function openInput(path: string): Promise<InputSource> {
  if (path === '-') return streamSource('stdin', process.stdin);
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw usageError(`${path}: is a directory, not a CSV file`);
    const handle = await open(path, 'r');
    return {
      name: path,
      sizeBytes: info.size,
      read: async (buffer, offset, length) => (await handle.read(buffer, offset, length, null)).bytesRead,
      close: () => handle.close(),
    };
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') throw usageError(`${path}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw usageError(`${path}: permission denied`);
    if (code === 'EISDIR') throw usageError(`${path}: is a directory, not a CSV file`);
    throw error;
  }
}

/** A stream (stdin) read through the same interface as a file. */
function streamSource(name: string, stream: Readable): InputSource {
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  return {
    name,
    sizeBytes: undefined,
    async read(buffer, offset, length) {
      if (pending.length === 0) {
        const next = await chunks.next();
        if (next.done) return 0;
        pending = next.value;
      }
      const n = pending.copy(buffer, offset, 0, Math.min(length, pending.length));
      pending = pending.subarray(n);
      return n;
    },
    close: async () => {
      stream.destroy();
    },
  };
}

const newline = '\n'; // CRLF's CR is trimmed with the field's white space; mixed endings work
const newlineByte = 0x0a; // never part of a multi-byte UTF-8 sequence, so a safe place to cut
const quote = '"';
const quoteByte = 0x22;

export async function* readRowChunks(source: InputSource): AsyncGenerator<RowChunk> {
  let carryRow = ''; // a row papaparse left open (a quoted field with line breaks)
  let nextLine = 1;
  let bytesRead = 0;
  let first = true;

  function* emit(bytes: Buffer, final: boolean): Generator<RowChunk> {
    const ascii = isAscii(bytes);
    if (carryRow.length === 0 && ascii && bytes.indexOf(quoteByte) < 0) {
      if (bytes.length === 0) return;
      const texts: string[] = [];
      const lineCounts: number[] = [];
      for (let start = 0; start < bytes.length;) {
        const end = pieceEnd(bytes, start);
        const text = bytes.toString('latin1', start, end);
        texts.push(text);
        lineCounts.push(countLineBreaks(text) + (text.charCodeAt(text.length - 1) === newlineByte ? 0 : 1));
        start = end;
      }
      const lineCount = lineCounts.reduce((a, b) => a + b, 0);
      yield { kind: 'text', texts, lineCounts, firstLine: nextLine, lineCount, bytesRead };
      nextLine += lineCount;
      return;
    }
    // Parse in pieces of at most textPieceBytes (see TextChunk), carrying an open row between them.
    const rows: string[][] = [];
    for (let start = 0; start < bytes.length || (final && start === 0);) {
      const end = pieceEnd(bytes, start);
      const last = end >= bytes.length;
      const input = carryRow + bytes.toString(ascii ? 'latin1' : 'utf8', start, end);
      const parsed = parseRows(input, !(final && last));
      carryRow = final && last ? '' : input.substring(parsed.meta.cursor);
      if (carryRow.length > rowCharsMax) throw rowTooLong(source.name, nextLine + rows.length + parsed.data.length);
      for (const row of parsed.data) rows.push(row);
      start = end;
      if (last) break;
    }
    if (rows.length === 0) return;
    const made = makeRowsChunk(rows, nextLine, bytesRead);
    nextLine = made.nextLine;
    yield made.chunk;
  }

  // One buffer for the whole run: each read lands after the carried partial line, so reading
  // allocates nothing; it only grows for a line longer than itself.
  let buffer = Buffer.allocUnsafe(readChunkBytes);
  let filled = 0; // bytes of a partial line carried at the front
  try {
    for (;;) {
      if (filled === buffer.length) {
        if (filled >= rowCharsMax) throw rowTooLong(source.name, nextLine);
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, filled);
        buffer = bigger;
      }
      const n = await source.read(buffer, filled, buffer.length - filled);
      if (n === 0) break;
      bytesRead += n;
      let end = filled + n;
      if (first) {
        // A UTF-8 byte order mark can only be the input's first three bytes: hold everything
        // until three bytes are there to look at.
        if (end < 3) {
          filled = end;
          continue;
        }
        first = false;
        if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) {
          buffer.copy(buffer, 0, 3, end);
          end -= 3;
        }
      }
      // (lastIndexOf counts a negative offset from the end of the buffer: never pass one.)
      const cut = end > 0 ? buffer.lastIndexOf(newlineByte, end - 1) + 1 : 0;
      if (cut > 0) {
        yield* emit(buffer.subarray(0, cut), false);
        buffer.copy(buffer, 0, cut, end);
      }
      filled = end - cut;
    }
    if (filled > 0 || carryRow.length > 0) yield* emit(buffer.subarray(0, filled), true);
  } catch (error) {
    if (error instanceof RunError) throw error;
    throw runFailure(`${source.name}: read failed after line ${nextLine - 1}: ${(error as Error).message}`);
  }
}

/** End of the piece starting at `start`: after its last line break within textPieceBytes, or the rest. */
function pieceEnd(bytes: Buffer, start: number): number {
  if (bytes.length - start <= textPieceBytes) return bytes.length;
  const cut = bytes.lastIndexOf(newlineByte, start + textPieceBytes - 1);
  return cut >= start ? cut + 1 : bytes.indexOf(newlineByte, start + textPieceBytes) + 1 || bytes.length;
}

function rowTooLong(name: string, line: number): Error {
  return runFailure(
    `${name}:${line}: a row longer than ${rowCharsMax} characters (an unterminated quoted field?); fix the row or its quotes and run again`,
  );
}

function parseRows(input: string, ignoreLastRow: boolean): { data: string[][]; meta: { cursor: number } } {
  const parser = new Papa.Parser({ delimiter: ',', newline, quoteChar: quote });
  return parser.parse(input, 0, ignoreLastRow);
}

function makeRowsChunk(rows: string[][], firstLine: number, bytesRead: number): { chunk: RowsChunk; nextLine: number } {
  // A quoted field may hold line breaks: each row starts after the lines of the rows before it.
  const lines = new Float64Array(rows.length);
  let line = firstLine;
  for (let i = 0; i < rows.length; i++) {
    lines[i] = line;
    line += 1;
    for (const value of rows[i]!) line += countLineBreaks(value);
  }
  return { chunk: { kind: 'rows', rows, firstLine, lines, bytesRead }, nextLine: line };
}

export function countLineBreaks(text: string): number {
  let count = 0;
  for (let at = text.indexOf(newline); at >= 0; at = text.indexOf(newline, at + 1)) count++;
  return count;
}
