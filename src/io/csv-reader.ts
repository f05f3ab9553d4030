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
import type { Readable } from 'node:stream';
import Papa from 'papaparse';
import { readChunkBytes, rowCharsMax } from '../constants.js';
import { errorCode, runFailure, usageError } from './errors.js';

export interface RowChunk {
  /** Rows as papaparse decodes them (blank lines included, as one empty field). */
  readonly rows: string[][];
  /** Line where row i starts: firstLine + i, unless some row spans lines (quoted line breaks). */
  readonly firstLine: number;
  readonly lines: Float64Array | undefined;
  /** Input bytes consumed so far, for progress. */
  readonly bytesRead: number;
}

export function lineOf(chunk: RowChunk, index: number): number {
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
    process.stdin.setEncoding('utf8');
    return { name: 'stdin', sizeBytes: undefined, stream: process.stdin };
  }
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw usageError(`${path}: is a directory, not a CSV file`);
    const handle = await open(path, 'r');
    const stream = handle.createReadStream({ encoding: 'utf8', highWaterMark: readChunkBytes });
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
const quote = '"';

export async function* readRowChunks(source: InputSource): AsyncGenerator<RowChunk> {
  let carry = '';
  let nextLine = 1;
  let bytesRead = 0;
  let first = true;
  try {
    for await (const piece of source.stream) {
      let text = piece as string;
      bytesRead += Buffer.byteLength(text);
      if (first) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      const input = carry + text;
      const parsed = parse(input, true);
      carry = input.substring(parsed.meta.cursor);
      if (carry.length > rowCharsMax) {
        throw runFailure(`${source.name}:${nextLine + parsed.data.length}: a row longer than ${rowCharsMax} characters (an unterminated quoted field?)`);
      }
      if (parsed.data.length === 0) continue;
      const chunk = makeChunk(parsed.data, nextLine, input.indexOf(quote) >= 0, bytesRead);
      nextLine = chunk.nextLine;
      yield chunk.chunk;
    }
  } catch (error) {
    if (error instanceof Error && error.name === 'RunError') throw error;
    throw runFailure(`${source.name}: read failed after line ${nextLine - 1}: ${(error as Error).message}`);
  }
  if (carry.length > 0) {
    const parsed = parse(carry, false);
    yield makeChunk(parsed.data, nextLine, carry.indexOf(quote) >= 0, bytesRead).chunk;
  }
}

function parse(input: string, ignoreLastRow: boolean): { data: string[][]; meta: { cursor: number } } {
  const parser = new Papa.Parser({ delimiter: ',', newline, quoteChar: quote });
  return parser.parse(input, 0, ignoreLastRow);
}

function makeChunk(rows: string[][], firstLine: number, mayHaveQuotes: boolean, bytesRead: number): { chunk: RowChunk; nextLine: number } {
  if (!mayHaveQuotes) {
    return { chunk: { rows, firstLine, lines: undefined, bytesRead }, nextLine: firstLine + rows.length };
  }
  // A quoted field may hold line breaks: each row starts after the lines of the rows before it.
  const lines = new Float64Array(rows.length);
  let line = firstLine;
  for (let i = 0; i < rows.length; i++) {
    lines[i] = line;
    line += 1 + lineBreaksIn(rows[i]!);
  }
  return { chunk: { rows, firstLine, lines, bytesRead }, nextLine: line };
}

function lineBreaksIn(row: readonly string[]): number {
  let count = 0;
  for (const value of row) {
    for (let at = value.indexOf(newline); at >= 0; at = value.indexOf(newline, at + 1)) count++;
  }
  return count;
}
