// Every limit of the system, in one place (units last in the name).

/**
 * Bytes requested from the input stream per read: one read becomes one routed chunk of rows.
 * Measured on 3.75 M rows: 1 MiB reads peak at 290 MB RSS, 256 KiB at 180 MB, equally fast.
 */
export const readChunkBytes = 512 << 10;
/** Routed chunks whose batches are still being applied; the reader pauses beyond this (backpressure). */
export const inflightChunksMax = 4;
/** A single CSV row longer than this is not a transaction row: the run stops with an error. */
export const rowCharsMax = 1 << 20;
/** V8 young-generation size of each shard worker (measured: 8 keeps RSS down at no cost in speed). */
export const workerYoungGenerationMb = 8;
/** Worker threads (shards) a run may use. */
export const workersMax = 64;
/** Distinct client ids (u16). */
export const clientsMax = 65536;
/** Rows a fresh batch buffer holds before it grows (buffers are reused, so growth is rare). */
export const batchRowsInitial = 4096;
