// Every limit of the system, in one place (units last in the name), with load-time checks relating them.
// (Checks against the domain's tables, such as reasonSlots > every reason code, sit in those modules.)

/**
 * Bytes requested from the input stream per read: one read becomes one routed chunk of rows.
 * Measured on 3.75 M rows: 1 MiB reads peak at 290 MB RSS, 256 KiB at 180 MB, equally fast.
 */
export const readChunkBytes = 512 << 10;
/** Routed chunks whose batches are still being applied; the reader pauses beyond this (backpressure). */
export const inflightChunksMax = 4;
/**
 * A single CSV row longer than this many bytes (1 MiB) is not a transaction row: the run stops with
 * an error. Counted as the input's bytes (after gzip, without a byte order mark), line breaks inside
 * quoted fields included, the row's own LF or CR LF not: so a row's verdict is the same in a CRLF file.
 */
export const rowBytesMax = 1 << 20;
/** V8 young-generation size of each shard worker (measured: 8 keeps RSS down at no cost in speed). */
export const workerYoungGenerationMb = 8;
/** Worker threads (shards) a run may use; also the most shards a journal manifest may name. */
export const workersMax = 64;
/** Distinct client ids (u16): the size of a shard's client table. */
export const clientsMax = 65536;
/** Rows a fresh batch buffer holds before it grows (buffers are reused, so growth is rare). */
export const batchRowsInitial = 4096;
/** Rejections are sorted as one number: row number in the chunk × reasonSlots + reason code. */
export const reasonSlots = 32;
/** A batch row's kind byte: the type code, with this bit set for a deposit/withdrawal reusing a tx id. */
export const duplicateFlag = 0x80;
export const typeMask = duplicateFlag - 1;

/** How often the journal manifest records the last line every shard has applied. */
export const manifestEveryMs = 1000;
/**
 * A partition writes a snapshot once the records since the last one reach this many, or the number
 * of stored transactions if larger (and at the end of a run). A snapshot holds the whole index, so
 * a fixed interval would make snapshot writing grow with the square of the input (measured: 37.5 M
 * rows took 256 s instead of 60); this keeps it linear, and recovery never replays more records
 * than the snapshot holds.
 */
export const snapshotEveryRecordsMin = 1_000_000;
/**
 * Transactions per snapshot part (4 MiB): no blob nears SQLite's 1 GB limit and no buffer holds the
 * whole index (each part exists three times while written: columns, blob, SQLite's copy).
 * Measured at 3.75 M rows, 2 workers: 16 MiB parts peak at 368 MB RSS, 4 MiB at 310 MB.
 */
export const snapshotPartTxs = 1 << 18;
/** Stored transactions per page of the engine's transaction index (sorted pages of 16 bytes an entry). */
export const txPageEntries = 1 << 16;
/** SQLite page cache per journal partition (better-sqlite3's default is 16 MiB). */
export const sqliteCacheKib = 2048;
/** Text the inspect command buffers before writing it out. */
export const inspectFlushChars = 1 << 16;

// Relations the code relies on: fail at load, not with a silently wrong number.
const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`invariant: constants: ${what}`);
};
check((duplicateFlag & typeMask) === 0 && duplicateFlag <= 0x80, 'the kind byte (type | duplicateFlag) fits a u8');
check(clientsMax === 1 << 16, 'client ids are u16');
check(snapshotPartTxs % txPageEntries === 0, 'snapshot parts hold whole index pages');
check(workersMax >= 1 && workersMax <= 256, 'workersMax is a small positive count');
check(batchRowsInitial > 0 && readChunkBytes > 0 && inflightChunksMax > 0, 'positive sizes');
