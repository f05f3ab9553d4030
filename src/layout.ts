/**
 * "Columns over one buffer", declared once: a layout names its columns and their element types, and
 * computes every offset. Batches (router → engine), journal records, snapshot accounts and
 * snapshot index parts are all such layouts. A column's offset is rows × the bytes of the columns
 * before it, so columns are declared widest first: every view is then aligned to its element size.
 */
type ColumnType = Float64ArrayConstructor | Uint32ArrayConstructor | Uint16ArrayConstructor | Uint8ArrayConstructor;
export type ColumnsSpec = Readonly<Record<string, ColumnType>>;
export type Columns<S extends ColumnsSpec> = { [K in keyof S]: InstanceType<S[K]> };

export class ColumnLayout<S extends ColumnsSpec> {
  /** Bytes one row takes over all columns. */
  readonly rowBytes: number;
  private readonly order: readonly [keyof S & string, ColumnType][];

  constructor(readonly spec: S) {
    this.order = Object.entries(spec) as [keyof S & string, ColumnType][];
    let width = Number.POSITIVE_INFINITY;
    for (const [name, type] of this.order) {
      if (type.BYTES_PER_ELEMENT > width) throw new Error(`invariant: column ${name} is wider than the one before it`);
      width = type.BYTES_PER_ELEMENT;
    }
    this.rowBytes = this.order.reduce((sum, [, type]) => sum + type.BYTES_PER_ELEMENT, 0);
  }

  /** Bytes `rows` rows take. */
  bytes(rows: number): number {
    return rows * this.rowBytes;
  }

  /** Rows a buffer of `byteLength` bytes holds (it must hold a whole number of them). */
  capacityOf(byteLength: number): number {
    return Math.floor(byteLength / this.rowBytes);
  }

  /** Typed-array views of each column, for `rows` rows starting at `byteOffset` (aligned to 8). */
  views(buffer: ArrayBufferLike, rows: number, byteOffset = 0): Columns<S> {
    const columns = {} as Record<string, unknown>;
    let at = byteOffset;
    for (const [name, type] of this.order) {
      columns[name] = new type(buffer as ArrayBuffer, at, rows);
      at += rows * type.BYTES_PER_ELEMENT;
    }
    return columns as Columns<S>;
  }

  /** Views over a copy of `bytes` in a fresh, aligned buffer (SQLite's blobs may sit at any offset). */
  decode(bytes: Uint8Array): { columns: Columns<S>; rows: number } {
    const rows = this.capacityOf(bytes.byteLength);
    if (rows * this.rowBytes !== bytes.byteLength)
      throw new Error(`invariant: ${bytes.byteLength} bytes is not a whole number of ${this.rowBytes}-byte rows`);
    return { columns: this.views(new Uint8Array(bytes).buffer, rows), rows };
  }

  /** A zeroed Buffer of `rows` rows and its column views (for encoding). */
  allocate(rows: number): { data: Buffer; columns: Columns<S> } {
    const data = Buffer.alloc(this.bytes(rows));
    return { data, columns: this.views(data.buffer, rows, data.byteOffset) };
  }
}

/** Well-formed rows from the router to a shard's engine (23 bytes a row). */
export const batchLayout = new ColumnLayout({
  amounts: Float64Array, // minor units; 0 for disputes, resolves, chargebacks
  lines: Float64Array, // input line where the row starts
  txs: Uint32Array,
  clients: Uint16Array,
  kinds: Uint8Array, // type code, | duplicateFlag
});

/** A journal batch's records (25 bytes a record). */
export const recordLayout = new ColumnLayout({
  lines: Float64Array,
  amounts: Float64Array, // the event's amount (a dispute's: the deposit's), or the row's when rejected
  txs: Uint32Array,
  clients: Uint16Array,
  kinds: Uint8Array, // event kind 0-4, or rejectedKind
  types: Uint8Array, // the row's type code
  reasons: Uint8Array, // rejection reason code, 255 when accepted
});

/** A snapshot's accounts, and a shard's final accounts (19 bytes an account). */
export const accountLayout = new ColumnLayout({
  available: Float64Array,
  held: Float64Array,
  clients: Uint16Array,
  locked: Uint8Array,
});

/** A part of a snapshot's transaction index (16 bytes a transaction). */
export const txPartLayout = new ColumnLayout({
  amounts: Float64Array,
  keys: Uint32Array,
  infos: Uint32Array,
});
