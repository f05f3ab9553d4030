/**
 * The parsing thread's per-row work: find the header, check each row (SPEC "well-formed"), apply the
 * global duplicate-tx rule, and encode accepted rows into one batch per shard.
 */
import { carriesAmount, txTypes } from '../domain/transaction.js';
import { lineOf, type RowChunk, type RowsChunk, type TextChunk } from '../io/csv-reader.js';
import type { InputProof } from '../io/input-proof.js';
import { inputError } from '../errors.js';
import { reasonCode } from '../domain/rejection.js';
import {
  echoFields,
  headerlessLayout,
  isAsciiSpace,
  isBlankRow,
  judge,
  otherDelimiterOf,
  StringFields,
  ByteFields,
  readHeader,
  rowOk,
  scanStandardRow,
  type ColumnLayout,
  type ParsedRow,
} from '../io/row.js';
import { batchRowsInitial, reasonSlots } from '../constants.js';
import { BatchBuilder, BufferPool, duplicateFlag, type TxBatch } from '../engine/batch.js';
import { shardOf } from '../domain/ids.js';
import { TxIdSet } from './tx-id-set.js';

export { reasonSlots };
/** Field positions kept per text row at first; more when the header names a column further right. */
const fieldsTrackedInitial = 64;
const malformedRow = reasonCode('malformed_row');
const newline = 0x0a;
const noRowAt = (): never => {
  throw new Error('invariant: rows are echoed only when the router tracks them');
};

export interface RoutedChunk {
  /** Rows rejected here (malformed), as sort keys. */
  readonly rejectedKeys: number[];
  /** Per shard: its batch (undefined when empty). */
  readonly batches: (TxBatch | undefined)[];
  /** Per shard, for each batch row, the row's number in the chunk (only when tracking rows). */
  readonly rowIndexes: number[][] | undefined;
  readonly dataRows: number;
  /** The chunk's last input line. */
  readonly lastLine: number;
  /** The input text up to the end of the chunk's read: committed with each of its batches. */
  readonly proof: InputProof;
  /** Echoes a row by its number in the chunk (only when tracking rows). */
  readonly rowAt: ((row: number) => { line: number; fields: string[] }) | undefined;
}

export class ChunkRouter {
  layout: ColumnLayout | undefined;
  private readonly seenTx = new TxIdSet();
  private readonly builders: BatchBuilder[];
  private readonly buffers = new BufferPool(batchRowsInitial);
  private readonly parsed: ParsedRow = { typeCode: 0, client: 0, tx: 0, amount: 0 };
  /** The delimiter's char code when scanStandardRow may read rows with it, else -1. */
  private readonly fastDelimiter: number;
  /** The layout is the standard column order (type, client, tx, amount): scanStandardRow applies. */
  private standard = false;
  /** Fields a row may have (4 without a header; a header lets rows carry more). */
  private fieldsMax = 4;
  private byteFields = new ByteFields(new Int32Array(fieldsTrackedInitial), new Int32Array(fieldsTrackedInitial));
  /** The delimiter's byte (one ASCII character: io/delimiter.ts). */
  private readonly delimiterCode: number;
  private readonly stringFields = new StringFields();
  private rejectedKeys: number[] = [];
  private rowIndexes: number[][] | undefined;
  private dataRows = 0;
  /** Well-formed rows by type code, for the run report. */
  readonly rowsByType = new Float64Array(txTypes.length);
  /** Physical lines that were the header, or blank (the run report's line counts). */
  headerLines = 0;
  blankLines = 0;

  /**
   * trackRows: remember where each batch row came from, to write rejected rows (costs memory).
   * sniffDelimiter: stop (exit 2) on a first line that looks separated by another delimiter.
   */
  constructor(
    readonly shards: number,
    private readonly inputName: string,
    private readonly trackRows: boolean,
    private readonly delimiter = ',',
    private readonly sniffDelimiter = true,
  ) {
    this.delimiterCode = delimiter.charCodeAt(0);
    this.builders = Array.from({ length: shards }, () => new BatchBuilder(this.buffers));
    // The one-pass scanner skips spaces (and tabs, unless the tab is the delimiter) and reads digits,
    // dots and lower-case letters: a delimiter among those goes the general way only.
    this.fastDelimiter =
      delimiter.length === 1 && (delimiter === '\t' || !/[\s0-9.a-z]/.test(delimiter)) ? delimiter.charCodeAt(0) : -1;
  }

  /** A batch buffer the worker has finished with. */
  recycle(buffer: ArrayBuffer): void {
    this.buffers.release(buffer);
  }

  get seenTxBytes(): number {
    return this.seenTx.bytes;
  }

  route(chunk: RowChunk): RoutedChunk {
    this.rejectedKeys = [];
    this.rowIndexes = this.trackRows ? Array.from({ length: this.shards }, (): number[] => []) : undefined;
    this.dataRows = 0;
    const rowAt = chunk.kind === 'text' ? this.routeText(chunk) : this.routeRows(chunk);
    return {
      rejectedKeys: this.rejectedKeys,
      batches: this.builders.map((b) => (b.count > 0 ? b.take() : undefined)),
      rowIndexes: this.rowIndexes,
      dataRows: this.dataRows,
      lastLine: chunk.kind === 'text' ? chunk.firstLine + chunk.lineCount - 1 : lineOf(chunk, chunk.rows.length - 1),
      rowAt: this.trackRows ? rowAt : undefined,
      proof: chunk.proof,
    };
  }

  /**
   * Quote-free ASCII text as bytes, one row per line: the common row is read in one pass over the
   * bytes (scanStandardRow); any other line goes the general way (routeLine), over its bytes too.
   * Only a rejected row's echo is decoded to a string.
   */
  private routeText(chunk: TextChunk): (row: number) => { line: number; fields: string[] } {
    const { bytes, firstLine, lineCount } = chunk;
    // offsets[row]: where the row starts in the bytes (only to echo rejected rows).
    const offsets = this.trackRows ? new Int32Array(lineCount) : undefined;
    const length = bytes.length;
    const fast = this.fastDelimiter;
    let lineStart = 0;
    for (let row = 0; row < lineCount; row++) {
      if (offsets) offsets[row] = lineStart;
      if (fast >= 0 && this.standard) {
        const end = scanStandardRow(bytes, lineStart, fast, this.fieldsMax, this.parsed);
        if (end >= 0) {
          lineStart = end + 1;
          this.dataRows++;
          this.accept(rowOk, row, firstLine + row);
          continue;
        }
      }
      let lineEnd = bytes.indexOf(newline, lineStart);
      if (lineEnd < 0) lineEnd = length;
      this.routeLine(bytes, lineStart, lineEnd, row, firstLine + row);
      lineStart = lineEnd + 1;
    }
    if (!offsets) return noRowAt;
    // The bytes are the reader's buffer, which its next read reuses; rejected rows are echoed after
    // the workers reply, later: keep a copy (only when rows are tracked).
    const kept = Buffer.from(bytes);
    return (wanted) => {
      const start = offsets[wanted]!;
      let end = kept.indexOf(newline, start);
      if (end < 0) end = length;
      return { line: firstLine + wanted, fields: kept.toString('latin1', start, end).split(this.delimiter) };
    };
  }

  /**
   * The general path for one line of text, bytes [lineStart, lineEnd) without its line feed: blank,
   * header, or judge on the fields' ranges (no string, but for the first line, to read the header).
   */
  private routeLine(bytes: Buffer, lineStart: number, lineEnd: number, row: number, line: number): void {
    const delimiter = this.delimiterCode;
    const fields = this.byteFields;
    const { starts, ends } = fields;
    const tracked = starts.length;
    // Split on the delimiter, trimming each field's range.
    let count = 0;
    let fieldStart = lineStart;
    for (;;) {
      let fieldEnd = fieldStart;
      while (fieldEnd < lineEnd && bytes[fieldEnd] !== delimiter) fieldEnd++;
      if (count < tracked) {
        let s = fieldStart;
        let e = fieldEnd;
        while (s < e && isAsciiSpace(bytes[s]!)) s++;
        while (e > s && isAsciiSpace(bytes[e - 1]!)) e--;
        starts[count] = s;
        ends[count] = e;
      }
      count++;
      if (fieldEnd === lineEnd) break;
      fieldStart = fieldEnd + 1;
    }
    if (count === 1 && starts[0] === ends[0]) {
      this.blankLines++;
      return;
    }
    if (this.layout === undefined) {
      const header = bytes.toString('latin1', lineStart, lineEnd).split(this.delimiter);
      if (this.detectLayout(header, line).hasHeader) return;
      // (Only a header can name a column past the tracked ones; this is a data row, so the ranges hold.)
    }
    this.dataRows++;
    fields.bytes = bytes;
    fields.count = count;
    this.accept(judge(fields, this.layout!, this.parsed), row, line);
  }

  /** Rows decoded by papaparse (quotes, non-ASCII text). */
  private routeRows(chunk: RowsChunk): (row: number) => { line: number; fields: string[] } {
    const { rows, malformed } = chunk;
    const { stringFields } = this;
    for (let row = 0; row < rows.length; row++) {
      const fields = rows[row]!;
      const bad = malformed !== undefined && malformed[row] === 1;
      if (!bad && isBlankRow(fields)) {
        this.blankLines++;
        continue;
      }
      if (this.layout === undefined) {
        if (bad && readHeader(fields).kind !== 'data') {
          throw inputError(
            `${this.inputName}:${lineOf(chunk, row)}: the header's quotes are malformed; fix them and run again`,
          );
        }
        if (this.detectLayout(fields, lineOf(chunk, row)).hasHeader) continue;
      }
      this.dataRows++;
      if (bad) {
        this.rejectedKeys.push(row * reasonSlots + malformedRow);
        continue;
      }
      stringFields.fields = fields;
      this.accept(judge(stringFields, this.layout!, this.parsed), row, lineOf(chunk, row));
    }
    return (row) => ({ line: lineOf(chunk, row), fields: rows[row]! });
  }

  /** Records a malformed row, or encodes a well-formed one into its shard's batch. */
  private accept(reason: number, row: number, line: number): void {
    if (reason !== rowOk) {
      this.rejectedKeys.push(row * reasonSlots + reason);
      return;
    }
    const parsed = this.parsed;
    let kind = parsed.typeCode;
    this.rowsByType[kind]!++;
    if (carriesAmount(kind) && this.seenTx.testAndAdd(parsed.tx)) kind |= duplicateFlag;
    const shard = this.shards === 1 ? 0 : shardOf(parsed.client, this.shards);
    this.builders[shard]!.push(kind, parsed.client, parsed.tx, parsed.amount, line);
    this.rowIndexes?.[shard]!.push(row);
  }

  private detectLayout(fields: readonly string[], line: number): ColumnLayout {
    const other = this.sniffDelimiter ? otherDelimiterOf(fields, this.delimiter) : undefined;
    if (other !== undefined) {
      const name = other === '\t' ? 'tab' : `'${other}'`;
      throw inputError(`${this.inputName}: line ${line} looks ${name}-separated; try --delimiter ${name}`);
    }
    const header = readHeader(fields);
    if (header.kind === 'invalid') {
      throw inputError(
        `${this.inputName}:${line}: the header has no "${header.missing}" column (expected type, client, tx, amount)`,
      );
    }
    const layout = header.kind === 'header' ? header.layout : headerlessLayout;
    if (layout.hasHeader) this.headerLines++;
    // Columns are found by name wherever they are: track field positions up to the last one used.
    const needed = Math.max(layout.type, layout.client, layout.tx, layout.amount) + 1;
    if (needed > this.byteFields.starts.length)
      this.byteFields = new ByteFields(new Int32Array(needed), new Int32Array(needed));
    this.layout = layout;
    this.standard = layout.type === 0 && layout.client === 1 && layout.tx === 2 && layout.amount === 3;
    this.fieldsMax = layout.hasHeader ? Number.POSITIVE_INFINITY : 4;
    return layout;
  }

  /** The echo of a rejected row: its fields as a rejects file shows them. */
  echo(fields: readonly string[]): string[] {
    return echoFields(fields, this.layout!);
  }
}
