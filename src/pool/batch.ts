/**
 * The batch protocol between the parsing thread and a shard's worker: well-formed rows encoded as
 * columns of one ArrayBuffer (23 bytes a row), transferred, not copied, to the worker.
 */
export interface TxBatch {
  readonly count: number;
  readonly buffer: ArrayBuffer;
}

/** A row's kind byte: the type code, with this bit set for a deposit/withdrawal reusing a tx id. */
export const duplicateFlag = 0x80;
export const typeMask = 0x7f;

export interface BatchColumns {
  amounts: Float64Array; // minor units
  lines: Float64Array; // input line where the row starts
  txs: Uint32Array;
  clients: Uint16Array;
  kinds: Uint8Array;
}

const rowBytes = 8 + 8 + 4 + 2 + 1;

export function columnsOf(buffer: ArrayBuffer, capacity: number): BatchColumns {
  return {
    amounts: new Float64Array(buffer, 0, capacity),
    lines: new Float64Array(buffer, 8 * capacity, capacity),
    txs: new Uint32Array(buffer, 16 * capacity, capacity),
    clients: new Uint16Array(buffer, 20 * capacity, capacity),
    kinds: new Uint8Array(buffer, 22 * capacity, capacity),
  };
}

export function capacityOf(buffer: ArrayBuffer): number {
  return buffer.byteLength / rowBytes;
}

/**
 * Batch buffers that came back from the workers, for reuse: the parsing thread then allocates no
 * buffer per batch, and neither thread leaves dead buffers for its GC to find. At most one buffer
 * per batch in flight is ever held here.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly capacityMin: number) {}

  /** A buffer for at least capacityMin rows. */
  acquire(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.capacityMin * rowBytes);
  }

  release(buffer: ArrayBuffer): void {
    if (buffer.byteLength >= this.capacityMin * rowBytes) this.free.push(buffer);
  }
}

/** Appends rows to a growable columnar buffer; `take()` hands the buffer over and starts afresh. */
export class BatchBuilder {
  private capacity: number;
  private buffer: ArrayBuffer;
  private cols: BatchColumns;
  count = 0;

  constructor(private readonly pool: BufferPool) {
    this.buffer = pool.acquire();
    this.capacity = capacityOf(this.buffer);
    this.cols = columnsOf(this.buffer, this.capacity);
  }

  push(kind: number, client: number, tx: number, amount: number, line: number): void {
    if (this.count === this.capacity) this.grow();
    const i = this.count++;
    const c = this.cols;
    c.kinds[i] = kind;
    c.clients[i] = client;
    c.txs[i] = tx;
    c.amounts[i] = amount;
    c.lines[i] = line;
  }

  take(): TxBatch {
    const batch = { count: this.count, buffer: this.buffer };
    this.buffer = this.pool.acquire();
    this.capacity = capacityOf(this.buffer);
    this.cols = columnsOf(this.buffer, this.capacity);
    this.count = 0;
    return batch;
  }

  private grow(): void {
    const old = this.cols;
    this.capacity *= 2;
    this.buffer = new ArrayBuffer(this.capacity * rowBytes);
    this.cols = columnsOf(this.buffer, this.capacity);
    const n = this.count;
    this.cols.amounts.set(old.amounts.subarray(0, n));
    this.cols.lines.set(old.lines.subarray(0, n));
    this.cols.txs.set(old.txs.subarray(0, n));
    this.cols.clients.set(old.clients.subarray(0, n));
    this.cols.kinds.set(old.kinds.subarray(0, n));
  }
}
