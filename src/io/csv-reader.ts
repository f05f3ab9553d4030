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
import { errorCode, runFailure, usageError } from './errors.js';

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
  readonly stream: Readable;
}

/** Opens a path or `-` (stdin); a missing, unreadable or directory input is a usage error (exit 2). */
export async function openInput(path: string): Promise<InputSource> {
  if (path === '-') {
    return { name: 'stdin', sizeBytes: undefined, stream: process.stdin };
  }
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw usageError(`${path}: is a directory, not a CSV file`);
    const handle = await open(path, 'r');
    const stream = handle.createReadStream({ highWaterMark: readChunkBytes });
    return { name: path, sizeBytes: info.size, stream };
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') throw usageError(`${path}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw usageError(`${path}: permission denied`);
    if (code === 'EISDIR') throw usageError(`${path}: is a directory, not a CSV file`);
    throw error;
  }
}

const newline = '\n'; // CRLF's CR is trimmed with the field's white space; mixed endings work
const newlineByte = 0x0a; // never part of a multi-byte UTF-8 sequence, so a safe place to cut
const quote = '"';
const quoteByte = 0x22;

export async function* readRowChunks(source: InputSource): AsyncGenerator<RowChunk> {
  let carryBytes: Buffer | undefined; // bytes after the last line break of the previous read
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
      for (let start = 0; start < bytes.length; ) {
        // Cut after the last line break within the piece size (or take the whole rest).
        let end = bytes.length;
        if (end - start > textPieceBytes) {
          const cut = bytes.lastIndexOf(newlineByte, start + textPieceBytes - 1);
          end = cut >= start ? cut + 1 : bytes.indexOf(newlineByte, start + textPieceBytes) + 1 || bytes.length;
        }
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
    const input = carryRow + bytes.toString(ascii ? 'latin1' : 'utf8');
    const parsed = parseRows(input, !final);
    carryRow = final ? '' : input.substring(parsed.meta.cursor);
    if (carryRow.length > rowCharsMax) {
      throw runFailure(`${source.name}:${nextLine + parsed.data.length}: a row longer than ${rowCharsMax} characters (an unterminated quoted field?)`);
    }
    if (parsed.data.length === 0) return;
    const made = makeRowsChunk(parsed.data, nextLine, bytesRead);
    nextLine = made.nextLine;
    yield made.chunk;
  }

  try {
    for await (const piece of source.stream) {
      let bytes = piece as Buffer;
      bytesRead += bytes.length;
      if (first) {
        first = false;
        if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      }
      if (carryBytes !== undefined) bytes = Buffer.concat([carryBytes, bytes]);
      const cut = bytes.lastIndexOf(newlineByte) + 1;
      if (cut === 0) {
        carryBytes = bytes;
        if (bytes.length > rowCharsMax) throw runFailure(`${source.name}:${nextLine}: a line longer than ${rowCharsMax} bytes`);
        continue;
      }
      carryBytes = cut < bytes.length ? Buffer.from(bytes.subarray(cut)) : undefined;
      yield* emit(bytes.subarray(0, cut), false);
    }
    const rest = carryBytes ?? Buffer.alloc(0);
    if (rest.length > 0 || carryRow.length > 0) yield* emit(rest, true);
  } catch (error) {
    if (error instanceof Error && error.name === 'RunError') throw error;
    throw runFailure(`${source.name}: read failed after line ${nextLine - 1}: ${(error as Error).message}`);
  }
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
