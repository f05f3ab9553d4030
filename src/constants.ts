// Every limit of the system, in one place (units last in the name).

/** Bytes requested from the input stream per read: one read becomes one routed chunk of rows. */
export const readChunkBytes = 1 << 20;
/** Routed chunks whose batches are still being applied; the reader pauses beyond this (backpressure). */
export const inflightChunksMax = 4;
/** A single CSV row longer than this is not a transaction row: the run stops with an error. */
export const rowCharsMax = 1 << 20;
/** Worker threads (shards) a run may use. */
export const workersMax = 64;
/** Distinct client ids (u16). */
export const clientsMax = 65536;
