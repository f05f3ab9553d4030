/**
 * Streams an input (file, stdin, gzip of either) one read at a time, so memory stays bounded
 * whatever the file size. Each read becomes one `RowChunk`: the complete rows it holds (the partial
 * last row is carried into the next read) and the physical line where each row starts. Reads are
 * cut at line breaks (never inside a multi-byte character) and the caller's `await` is the
 * backpressure.
 *
 * Before any row, the first bytes are checked for what is not UTF-8 CSV with LF or CRLF line
 * endings: a UTF-16 byte order mark and classic-Mac CR-only line endings are exit 2 with a hint.
 */
import { isAscii } from 'node:buffer';
import { readChunkBytes, rowBytesMax, textPieceBytes } from '../constants.js';
import { RunError, describeError, inputError, runFailure } from '../errors.js';
import type { InputSource } from './input-source.js';
import { ProofTracker, type InputProof } from './input-proof.js';
import { countLineFeeds, splitRows, UnterminatedQuote, type SplitResult } from './quoted-rows.js';

/**
 * One read's worth of complete rows, in one of two forms:
 * - `text`: ASCII text with no quote character, ending at a line break (or the end of input), kept
 *   as the bytes that were read. Every line is one row and its fields are the bytes between
 *   delimiters, so the router reads them in place.
 * - `rows`: decoded rows (quoted-rows.ts), for text with quotes or non-ASCII characters (line breaks
 *   inside quoted fields, malformed quotes), or a row carried over from the previous read.
 */
export type RowChunk = TextChunk | RowsChunk;

export interface TextChunk {
  readonly kind: 'text';
  /**
   * The read's complete lines, as bytes (ASCII: one byte a character, so latin1 decodes them). Not
   * decoded to a string: the router's one-pass scanner reads bytes (a plain load where charCodeAt
   * dispatches on the string's representation). They are the read buffer itself, which the next
   * read reuses: valid only until the next chunk is asked for, so a consumer that keeps rows longer
   * copies them (the router does, to echo rejected rows). A new buffer per read instead cost more
   * than the read (a fresh 512 KiB allocation's page faults; measured: the reader at half speed).
   */
  readonly bytes: Buffer;
  readonly firstLine: number;
  /** Rows (lines) in `bytes`: line feeds, plus one for a last line without one. */
  readonly lineCount: number;
  readonly bytesRead: number;
  /** The input text up to the end of the read these rows came from (what a journal batch stores). */
  readonly proof: InputProof;
}

export interface RowsChunk {
  readonly kind: 'rows';
  /** Decoded rows (blank lines included, as one field of white space). */
  readonly rows: string[][];
  /** 1 for a row whose quotes are malformed (its fields are then the raw text split on the delimiter). */
  readonly malformed?: Uint8Array;
  /** Line where row i starts: firstLine + i, unless some row spans lines (quoted line breaks). */
  readonly firstLine: number;
  readonly lines: Float64Array | undefined;
  readonly bytesRead: number;
  /** As TextChunk.proof: it covers every row of the chunk (a carried row ends in this read). */
  readonly proof: InputProof;
}

export function lineOf(chunk: RowsChunk, index: number): number {
  return chunk.lines === undefined ? chunk.firstLine + index : chunk.lines[index]!;
}

export { openInput, type InputSource } from './input-source.js';

const newlineByte = 0x0a; // never part of a multi-byte UTF-8 sequence, so a safe place to cut
const carriageReturnByte = 0x0d;
const quoteByte = 0x22;

export interface ReadOptions {
  /** One character; `,` unless the user or a `.tsv` name says otherwise. */
  readonly delimiter: string;
}

/** Physical lines seen by the reader, for the run report (SPEC: no row is lost without being counted). */
export interface ReadStats {
  /** Physical lines in the input: line feeds, plus one for a last line without one. */
  lines: number;
  /** Line feeds inside closed quoted fields: they continue a row instead of starting one. */
  quotedLineBreaks: number;
}

export async function* readRowChunks(
  source: InputSource,
  options: ReadOptions = { delimiter: ',' },
  stats: ReadStats = { lines: 0, quotedLineBreaks: 0 },
): AsyncGenerator<RowChunk> {
  let first = true;
  let lineEndingsChecked = false;
  // Every byte handed on passes through the emitter once: the proof covers exactly the text read so far.
  const tracker = new ProofTracker();
  const emitter = new ChunkEmitter(source, options.delimiter, stats, tracker);

  // One buffer for the whole run: each read lands after the carried partial line, so reading
  // allocates nothing; it only grows for a line longer than itself. (A text chunk's bytes are this
  // buffer: see TextChunk.)
  let buffer = Buffer.allocUnsafe(readChunkBytes);
  let filled = 0; // bytes of a partial line carried at the front
  try {
    for (;;) {
      if (filled === buffer.length) {
        if (!lineEndingsChecked) lineEndingsChecked = checkLineEndings(source.name, buffer.subarray(0, filled));
        // One partial line fills the buffer. At rowBytesMax + 2 bytes (a longest row and its CR LF)
        // without a line feed, its row is too long; below that, make room.
        if (filled >= rowBytesMax + 2) throw rowTooLong(source.name, emitter.nextLine);
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, rowBytesMax + 2));
        buffer.copy(bigger, 0, 0, filled);
        buffer = bigger;
      }
      // Never more than a read's worth past the carried line: then only the read's first line can
      // be longer than a read, and that one is measured below.
      const n = await source.read(buffer, filled, Math.min(buffer.length - filled, readChunkBytes));
      if (n === 0) break;
      let end = filled + n;
      if (first) {
        // A byte order mark can only be the input's first bytes: hold everything until three
        // bytes are there to look at.
        if (end < 3) {
          filled = end;
          continue;
        }
        first = false;
        end = checkStart(source.name, buffer, end, tracker);
      }
      const firstBreak = buffer.subarray(0, end).indexOf(newlineByte);
      if (firstBreak >= 0 && lineBytes(buffer, 0, firstBreak) > rowBytesMax)
        throw rowTooLong(source.name, emitter.nextLine);
      // (lastIndexOf counts a negative offset from the end of the buffer: never pass one.)
      const cut = end > 0 ? buffer.lastIndexOf(newlineByte, end - 1) + 1 : 0;
      if (cut > 0) {
        lineEndingsChecked = true; // a line feed within the first read: LF or CRLF endings
        yield* emitter.emit(buffer.subarray(0, cut), false);
        buffer.copy(buffer, 0, cut, end);
      }
      filled = end - cut;
    }
    if (first && filled > 0) filled = checkStart(source.name, buffer, filled, tracker);
    if (filled > rowBytesMax) throw rowTooLong(source.name, emitter.nextLine); // the last line, without a line feed
    if (!lineEndingsChecked) checkLineEndings(source.name, buffer.subarray(0, filled));
    if (filled > 0 || emitter.carrying) yield* emitter.emit(buffer.subarray(0, filled), true);
  } catch (error) {
    if (error instanceof RunError) throw error;
    throw runFailure(`${source.name}: read failed after line ${emitter.nextLine - 1}: ${describeError(error)}`);
  }
}

/**
 * Hands on a read's complete lines: as a text chunk when they are ASCII without quotes, else as
 * decoded rows, carrying a row left open (a quoted field with line breaks) into the next read.
 */
class ChunkEmitter {
  /** The line the next row starts on. */
  nextLine = 1;
  private carryRow = ''; // a row left open at the end of a read (a quoted field with line breaks)
  private carryBytes = 0; // carryRow's length in the input's bytes (its text is decoded)

  constructor(
    private readonly source: InputSource,
    private readonly delimiter: string,
    private readonly stats: ReadStats,
    private readonly tracker: ProofTracker,
  ) {}

  get carrying(): boolean {
    return this.carryRow.length > 0;
  }

  *emit(bytes: Buffer, final: boolean): Generator<RowChunk> {
    const bytesRead = this.source.consumedBytes();
    this.tracker.add(bytes);
    const proof = this.tracker.proof;
    const ascii = isAscii(bytes);
    if (this.carryRow.length === 0 && ascii && bytes.indexOf(quoteByte) < 0) {
      if (bytes.length === 0) return;
      const lineCount = countLineBreaks(bytes) + (bytes[bytes.length - 1] === newlineByte ? 0 : 1);
      yield { kind: 'text', bytes, firstLine: this.nextLine, lineCount, bytesRead, proof };
      this.nextLine += lineCount;
      this.stats.lines = this.nextLine - 1;
      return;
    }
    yield* this.decoded(bytes, final, ascii, new PieceRows(this.nextLine, bytesRead, proof));
  }

  /**
   * Split in pieces of at most textPieceBytes, carrying an open row between them: V8 places strings
   * over ~128 KB in large-object space, which made decoding a 256 KiB read 80× slower (measured).
   * Rows are yielded every piece rather than every read: a read's worth of decoded rows (an array
   * and four strings each) outlived the young generation, and promoting them made GC 40% of the
   * parsing thread on quoted input (measured); a piece's rows die young.
   */
  private *decoded(bytes: Buffer, final: boolean, ascii: boolean, rows: PieceRows): Generator<RowChunk> {
    const { source, stats } = this;
    for (let start = 0; start < bytes.length || (final && start === 0);) {
      const end = pieceEnd(bytes, start);
      const last = end >= bytes.length;
      const input = this.carryRow + bytes.toString(ascii ? 'latin1' : 'utf8', start, end);
      let split;
      try {
        split = splitRows(input, this.delimiter, this.nextLine, final && last);
      } catch (error) {
        if (error instanceof UnterminatedQuote) throw unterminated(source.name, error.line);
        throw error;
      }
      const previous = this.carryRow.length > 0 ? { chars: this.carryRow.length, bytes: this.carryBytes } : undefined;
      this.carryRow = input.substring(split.cursor);
      this.carryBytes = measureCarry(source.name, { bytes, start, end, text: input }, split, previous, this.carryRow);
      rows.add(split);
      this.nextLine = split.nextLine;
      stats.quotedLineBreaks += split.quotedLineBreaks;
      stats.lines = this.nextLine - 1;
      start = end;
      if (last) break;
      if (rows.count > 0) yield rows.take(this.nextLine);
    }
    stats.lines = this.nextLine - 1;
    if (rows.count > 0) yield rows.take(this.nextLine);
  }
}

/** The decoded rows of one read gathered piece by piece, handed on as RowsChunks. */
class PieceRows {
  private rows: string[][] = [];
  private lines: number[] = [];
  private malformed: number[] = [];

  constructor(
    private firstLine: number,
    private readonly bytesRead: number,
    private readonly proof: InputProof,
  ) {}

  get count(): number {
    return this.rows.length;
  }

  add(split: SplitResult): void {
    const { rows, lines } = this;
    for (const index of split.malformed) this.malformed.push(rows.length + index);
    for (let i = 0; i < split.rows.length; i++) {
      rows.push(split.rows[i]!);
      lines.push(split.lines[i]!);
    }
  }

  /** The rows so far as a chunk; the next ones start at `nextLine`. */
  take(nextLine: number): RowsChunk {
    const { rows, lines, malformed } = this;
    let flags: Uint8Array | undefined;
    if (malformed.length > 0) {
      flags = new Uint8Array(rows.length);
      for (const index of malformed) flags[index] = 1;
    }
    const chunk: RowsChunk = {
      kind: 'rows',
      rows,
      firstLine: lines[0] ?? this.firstLine,
      lines: Float64Array.from(lines),
      malformed: flags,
      bytesRead: this.bytesRead,
      proof: this.proof,
    };
    this.rows = [];
    this.lines = [];
    this.malformed = [];
    this.firstLine = nextLine;
    return chunk;
  }
}

/**
 * Looks at the input's first bytes (`end` of them in `buffer`): a UTF-16 byte order mark is exit 2;
 * a UTF-8 one is dropped (but still proven: the proof is of the input as stored). Returns the bytes left.
 */
function checkStart(name: string, buffer: Buffer, end: number, tracker: ProofTracker): number {
  const [b0, b1, b2] = [buffer[0], buffer[1], buffer[2]];
  if (end >= 2 && ((b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff))) {
    const which = b0 === 0xff ? 'UTF-16LE' : 'UTF-16BE';
    throw inputError(
      `${name}: the input is ${which} text (it starts with a UTF-16 byte order mark); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8${name === 'stdin' ? '' : ` ${name}`} > converted.csv`,
    );
  }
  if (end >= 3 && b0 === 0xef && b1 === 0xbb && b2 === 0xbf) {
    tracker.add(buffer.subarray(0, 3));
    buffer.copy(buffer, 0, 3, end);
    return end - 3;
  }
  return end;
}

/**
 * Classic-Mac line endings: no line feed in the input's first read (`head`, all of it up to its
 * first line feed), yet a carriage return with more text after it. Such a file would otherwise be
 * read as one line, so it is refused (exit 2) with a way to convert it. A CR inside a line of a file
 * with line feeds, or a lone CR at the very end, is white space as before.
 */
function checkLineEndings(name: string, head: Buffer): boolean {
  for (let at = head.indexOf(carriageReturnByte); at >= 0; at = head.indexOf(carriageReturnByte, at + 1)) {
    if (at + 1 < head.length && head[at + 1] !== carriageReturnByte) {
      const shown = name === 'stdin' ? '' : ` < ${name}`;
      throw inputError(
        `${name}: lines end in a lone CR (classic Mac line endings), which are not line breaks here; convert them first, e.g. tr '\\r' '\\n'${shown} > converted.csv`,
      );
    }
  }
  return true;
}

/** End of the piece starting at `start`: after its last line break within textPieceBytes, or the rest. */
function pieceEnd(bytes: Buffer, start: number): number {
  if (bytes.length - start <= textPieceBytes) return bytes.length;
  const cut = bytes.lastIndexOf(newlineByte, start + textPieceBytes - 1);
  return cut >= start ? cut + 1 : bytes.indexOf(newlineByte, start + textPieceBytes) + 1 || bytes.length;
}

function rowTooLong(name: string, line: number): Error {
  return runFailure(
    `${name}:${line}: a row longer than 1 MiB (${rowBytesMax} bytes, not counting its line break); fix the row and run again`,
  );
}

/**
 * A piece's text was split with `previous` (a row left open, `chars` of the text and `bytes` of the
 * input) in front. Checks the row that completes it, if one does, and returns the length in bytes of
 * the row now left open (`carry`), refusing it once it is too long. Rows that start and end within a
 * piece need no check: a piece is at most textPieceBytes, or a single physical line, which the read
 * loop has measured. Lengths come from the input's bytes, found by counting line breaks, since the
 * decoded text's length is not its length in bytes.
 */
function measureCarry(
  name: string,
  piece: { bytes: Buffer; start: number; end: number; text: string },
  split: SplitResult,
  previous: { chars: number; bytes: number } | undefined,
  carry: string,
): number {
  const { bytes, start, end, text } = piece;
  if (previous !== undefined && split.rows.length > 0) {
    // The completed row's line feeds (its own included: one too many if it ends the input) ...
    const rowLineFeeds = (split.lines[1] ?? split.nextLine) - split.lines[0]!;
    // ... less those already carried, are where it ends in this piece.
    const rest = restOfRowBytes(bytes, start, end, rowLineFeeds - countLineFeeds(text, 0, previous.chars));
    if (previous.bytes + rest > rowBytesMax) throw rowTooLong(name, split.lines[0]!);
  }
  const carryBytes =
    previous !== undefined && split.cursor === 0
      ? previous.bytes + (end - start)
      : end - lineStartFromEnd(bytes, start, end, countLineFeeds(carry, 0, carry.length));
  // All of an open row's text so far is row: its last line break is inside a quoted field.
  if (carryBytes > rowBytesMax) {
    throw split.openQuoteLine > 0 ? unterminated(name, split.openQuoteLine) : rowTooLong(name, split.nextLine);
  }
  return carryBytes;
}

/** Bytes of the line bytes[start, lineFeed), less the CR of a CR LF ending. */
function lineBytes(bytes: Buffer, start: number, lineFeed: number): number {
  return lineFeed - start - (lineFeed > start && bytes[lineFeed - 1] === carriageReturnByte ? 1 : 0);
}

/**
 * Bytes of bytes[start, end) up to the row's end, the row ending at the `lineFeeds`-th line feed
 * from `start` (its own LF or CR LF not counted), or at `end` (the input's last line, no break).
 */
function restOfRowBytes(bytes: Buffer, start: number, end: number, lineFeeds: number): number {
  let at = start - 1;
  for (let k = 0; k < lineFeeds; k++) {
    at = bytes.indexOf(newlineByte, at + 1);
    if (at < 0 || at >= end) return end - start;
  }
  return lineBytes(bytes, start, at);
}

/**
 * Where the last `lineFeeds` lines of bytes[start, end) start (end itself for none): an open row's
 * first byte, found from its line breaks (its text is decoded, so its length is not its bytes).
 */
function lineStartFromEnd(bytes: Buffer, start: number, end: number, lineFeeds: number): number {
  if (lineFeeds === 0) return end;
  let at = end - 1; // bytes[end - 1] is the open row's last line feed
  for (let k = 0; k < lineFeeds; k++) {
    if (at < start) return start;
    at = at > 0 ? bytes.lastIndexOf(newlineByte, at - 1) : -1;
  }
  return at < start ? start : at + 1;
}

function unterminated(name: string, line: number): Error {
  return runFailure(
    `${name}:${line}: a quoted field opened on this line is never closed (unterminated quote); fix its quotes and run again`,
  );
}

/** Line feeds in `bytes` (Buffer#indexOf is memchr: faster than decoding and searching a string). */
function countLineBreaks(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(newlineByte); at >= 0; at = bytes.indexOf(newlineByte, at + 1)) count++;
  return count;
}
