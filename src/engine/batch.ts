/**
 * A batch: well-formed rows for one shard, as the columns of batchLayout (src/layout.ts) over one
 * ArrayBuffer, built by the router and transferred, not copied, to the shard's engine.
 */
import { batchLayout } from '../layout.js';

export { duplicateFlag, typeMask } from '../constants.js';

export interface TxBatch {
  readonly count: number;
  readonly buffer: ArrayBuffer;
}

export type BatchColumns = ReturnType<typeof batchLayout.views>;

/** The columns of a batch buffer (sized for its capacity, of which `count` rows are used). */
export function columnsOf(buffer: ArrayBuffer, capacity = capacityOf(buffer)): BatchColumns {
  return batchLayout.views(buffer, capacity);
}

/** Rows a batch buffer has room for. */
export function capacityOf(buffer: ArrayBuffer): number {
  return batchLayout.capacityOf(buffer.byteLength);
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
    return this.free.pop() ?? new ArrayBuffer(batchLayout.bytes(this.capacityMin));
  }

  release(buffer: ArrayBuffer): void {
    if (buffer.byteLength >= batchLayout.bytes(this.capacityMin)) this.free.push(buffer);
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
    this.capacity = batchLayout.capacityOf(this.buffer.byteLength);
    this.cols = columnsOf(this.buffer);
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
    this.capacity = batchLayout.capacityOf(this.buffer.byteLength);
    this.cols = columnsOf(this.buffer);
    this.count = 0;
    return batch;
  }

  private grow(): void {
    const old = this.cols;
    this.capacity *= 2;
    this.buffer = new ArrayBuffer(batchLayout.bytes(this.capacity));
    this.cols = columnsOf(this.buffer);
    const n = this.count;
    this.cols.amounts.set(old.amounts.subarray(0, n));
    this.cols.lines.set(old.lines.subarray(0, n));
    this.cols.txs.set(old.txs.subarray(0, n));
    this.cols.clients.set(old.clients.subarray(0, n));
    this.cols.kinds.set(old.kinds.subarray(0, n));
  }
}
