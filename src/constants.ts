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
 * A partition writes a whole snapshot once the records since the last one reach this many, or the
 * number of stored transactions if larger; a finished one ends with its accounts alone. A snapshot
 * holds the whole index, so a fixed interval would make snapshot writing grow with the square of
 * the input (measured: 37.5 M rows took 256 s instead of 60); this keeps it linear, and recovery
 * never replays more records than this or the snapshot holds. Snapshots only serve a recovery after
 * a crash, which replays about 2 M records a second a partition: 4 M records bound that to about
 * 2 s, while each whole snapshot costs every run (at 1 M, a 3.75 M-row run spent a tenth of its
 * time writing one).
 */
export const snapshotEveryRecordsMin = 4_000_000;
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

/**
 * Cluster shards write a snapshot at most this often, only after clusterSnapshotRecordsMin new
 * records, and only once the records since the last one reach clusterSnapshotGrowth × the records
 * that one held. A snapshot holds the whole index: on time alone a shard slowed down (a busy
 * machine) wrote its whole index every few seconds, the journal's largest writes growing with the
 * square of the shard; growing by half each time, all of a shard's snapshots add up to at most three
 * times its last, and a takeover replays at most a third of the shard's records (or clusterSnapshotRecordsMin).
 */
export const clusterSnapshotEveryMs = 5000;
export const clusterSnapshotGrowth = 0.5;
/**
 * A node taking a shard over replays only the records after its last snapshot, which bounds the
 * takeover time (the single-process policy, a million records, would make a takeover replay that many).
 */
export const clusterSnapshotRecordsMin = 20_000;

// PostgreSQL connections (journal and cluster control plane).
/** Ceiling of the first reconnection delay; each further one doubles, up to retryDelayMaxMs (full jitter below). */
export const retryDelayFirstMs = 100;
export const retryDelayMaxMs = 2_000;
/** A connection attempt that takes longer than this is abandoned (and retried). */
export const connectTimeoutMs = 10_000;
/**
 * A query the server has sent nothing back for this long (at least; a journal's retry_seconds when
 * longer) counts as a lost connection: a server that stopped answering, or a network that drops
 * every packet, would otherwise hold a run for ever.
 */
export const pgSilentMinMs = 5_000;
/** How long closing a connection politely may wait for the server before its socket is destroyed. */
export const pgCloseWaitMs = 2_000;
/** The longest a control-plane statement may run (a tick that hung would stop heartbeats and renewals). */
export const controlStatementTimeoutMs = 20_000;

// Cluster nodes (payments node).
/**
 * The longest run name (it names the journal, the stream and every subject) and node id (its control
 * session is named `payments node <id>`, which PostgreSQL keeps to 63 bytes).
 */
export const runNameCharsMax = 48;
export const nodeIdCharsMax = 48;
/** A shard's lease: a dead node's shards move after about this long (`--lease-ms`). */
export const leaseMsDefault = 3000;
export const leaseMsMin = 300;
export const leaseMsMax = 600_000;
/** A node ticks (heartbeat, renewals, claims) every third of its lease, within these bounds. */
export const tickMsMin = 100;
export const tickMsMax = 500;
/**
 * A node's circuit breakers (PostgreSQL: its control ticks; NATS: its connection) open after this
 * many failures in a row, and let one attempt through after a lease (at least the minimum): while
 * open the node is not ready and claims nothing.
 */
export const breakerFailuresInARow = 3;
export const breakerHalfOpenAfterMinMs = 2000;
/** A node is live while its heartbeat is younger than two ticks plus this slack. */
export const heartbeatSlackMs = 100;
/**
 * A node without a control session counts as gone only once its last heartbeat is this old (two
 * ticks at the default lease): a live node whose connection dropped heartbeats again within a tick.
 */
export const goneAfterMs = 1000;
/** A claimed shard not recovered and reading by then is given up (released) and claimed afresh. */
export const runnerReadyWaitMs = 120_000;
/**
 * A shard that failed is claimed again after a backoff: its ceiling doubles from the first to the
 * last value with each failure in a row (half of it jittered), so a shard that keeps failing costs
 * a claim every half-minute at most, never a hot loop; the shardFailuresMax-th failure in a row
 * (about a minute of retries) quarantines it with its cause, for an operator or a submit to repair.
 */
export const shardRetryDelayFirstMs = 500;
export const shardRetryDelayMaxMs = 30_000;
export const shardFailuresMax = 6;
/**
 * Finished or abandoned runs (and their leases and dead letters), and nodes without a heartbeat,
 * are deleted from the control plane after this long (`payments node --expire-seconds`): a week
 * leaves time to print a run with `payments result`.
 */
export const expireSecondsDefault = 7 * 24 * 3600;
/** How often a node deletes what expired (any node may: the deletes are idempotent). */
export const expiryEveryMs = 60_000;
/** How often a node refreshes its view of the cluster (unowned shards, overdue runs) for its metrics. */
export const clusterViewEveryMs = 2000;
/**
 * /healthz answers 503 once the last successful control tick is older than this many leases (and
 * at least healthTickAgeMinMs): by then the node has lost its leases, whatever it runs.
 */
export const healthTickAgeLeases = 2;
export const healthTickAgeMinMs = 5000;
/**
 * Shards a node runs at once at most (the most shards a run has): it claims no more. Also the most
 * shard threads it may be given (`payments node --threads`).
 */
export const shardThreadsMax = 64;
/** Batches handed to a shard's worker and not yet applied; beyond this its runner stops pulling from NATS. */
export const batchesInFlightMax = 4;
/** How long a stopped shard's task may take to close its partition before its runner stops waiting for it. */
export const workerStopWaitMs = 5000;
/** A shard consumer's read-ahead (messages) and pull-request expiry: a restarted NATS is noticed within seconds. */
export const consumeMessagesMax = 8;
export const consumeExpiresMs = 5000;

// Submitting (payments submit, payments result).
/** Shards of a new run (`--shards`). */
export const shardsDefault = 8;
/** Batches a shard's subject may hold, stored and not yet committed by its owner (`--max-lag`). */
export const lagBatchesDefault = 256;
export const lagBatchesMax = 1_000_000;
/**
 * A shard's rows are published in messages of about this many bytes (batchLayout rows; at most the
 * server's max_payload less the header room): every message costs a PubAck round trip, a journal
 * commit and a hand-off to a shard thread, so few large messages beat one per routed chunk.
 */
export const publishMessageBytes = 256 << 10;
/** Batches published or waiting to be, over all shards: the reader pauses beyond this. */
export const publishesPendingMax = 64;
/** How long one batch's publish is retried (NATS restarting) before submit gives up (exit 1). */
export const publishRetryMs = 60_000;
/** One publish waits this long for its PubAck. */
export const publishTimeoutMs = 5000;
/** Delays between tries of a publish that failed (connection lost): full jitter below the ceiling. */
export const publishRetryDelayFirstMs = 100;
export const publishRetryDelayMaxMs = 2000;
/** Delays between tries of a publish refused because its shard lags (no jitter: nothing to spread). */
export const lagRetryDelayFirstMs = 25;
export const lagRetryDelayMaxMs = 1000;
/** JetStream's de-duplication window for a run's stream: a re-run submit within it stores nothing twice. */
export const streamDuplicateWindowNs = 2 * 3600 * 1e9;
/** Room left in a message for its headers. */
export const natsHeaderRoomBytes = 1024;
/** The least payload a batch message carries, whatever the server's max_payload. */
export const natsPayloadMinBytes = 4096;
/** The max_payload assumed when the server has not said. */
export const natsPayloadDefaultBytes = 1 << 20;
/** How often the subjects are trimmed while publishing (and at once when a publish is refused). */
export const streamTrimEveryMs = 500;
/** A publish not preceded by a check of the run's stream for this long checks it first (made again by another submit?). */
export const streamCheckEveryMs = 250;
/**
 * How long submit waits for the nodes to finish the run before it gives up (exit 1, naming the
 * shards not finished): `--deadline SECONDS`. It never waits forever.
 */
export const submitDeadlineSecondsDefault = 6 * 3600;
/** How often submit checks whether every shard has finished. */
export const shardsPollMs = 100;
/** Waiting (lagging shards, unfinished shards) is logged at most this often. */
export const waitLogEveryMs = 5000;
/** Between two tries to reach a restarted NATS server (it is waited for as long as it takes). */
export const natsReconnectWaitMs = 250;

// Traces (ops/tracing.ts).
/**
 * Spans a worker thread keeps before posting them to the main thread's exporter (span-relay.ts):
 * one message per this many batches' spans, and at every flush (a task's end).
 */
export const relaySpansPerPost = 64;

// Progress display (ops/progress.ts).
/** The progress bar is redrawn at most this often. */
export const progressRedrawMs = 200;
/** The rate shown is measured over this window. */
export const progressRateWindowMs = 5000;

// Reading and writing files (io/).
/** Longest string a piece of quoted or non-ASCII text is decoded to at once (io/csv-reader.ts). */
export const textPieceBytes = 64 << 10;
/** Bytes read from a gzip input per read (before decompression). */
export const gzipReadBytes = 256 << 10;
/** Bytes read per read when the input proof is checked on resume. */
export const proofReadBytes = 1 << 20;
/** Names tried for an output file's temporary file before giving up (each a fresh random name). */
export const outputTempAttempts = 5;
/** Bytes gathered before one write(2): rejects arrive in many small pieces. */
export const outputFlushBytes = 1 << 16;
/** How often an open retries while the FIFO has no reader. */
export const fifoReaderPollMs = 50;
/** Links followed before a path is called a loop (Linux's own limit is 40). */
export const symlinksFollowedMax = 40;
/** A manifest larger than this is not one this program wrote. */
export const manifestBytesMax = 1 << 20;
/**
 * Most rows `payments generate` writes: every tx id it writes (one a deposit or withdrawal, and
 * unknown ones up to 1,001,000 past the last) then fits in a u32, so no row is malformed that was
 * not meant to be.
 */
export const generateRowsMax = 4_000_000_000;

// The SQLite journal (and what both journals share).
/** Bytes of the input's head and tail whose CRC a journal manifest records. */
export const inputSampleBytes = 1 << 20;
/** How long a step other than taking the lock waits for other runs' brief reads of the lock file. */
export const lockReadersWaitMs = 2_000;

// The PostgreSQL journal.
/**
 * The session setting that carries a cluster node's lease generation (options=-c …=G): the fence
 * (cluster/schema.ts) compares it with the lease at every write.
 */
export const pgFenceSetting = 'payments_cluster.generation';
/** How long a lost server is retried before the run stops (a restart of a few seconds is survived). */
export const pgRetrySecondsDefault = 30;
/** How long a lock held by a session that is going away (its run died) is waited for. */
export const pgLockWaitSeconds = 5;
/** A run that lost its connection waits this long for its lock: a run that took it meanwhile is refused by the partitions' locks within pgLockWaitSeconds. */
export const pgRelockWaitSeconds = 4 * pgLockWaitSeconds;
/** Tries of a schema migration that lost a race with another process creating the same object. */
export const pgSchemaLockAttempts = 5;
/**
 * Snapshots a PostgreSQL partition keeps: the newest only. A snapshot is written, and the older one
 * deleted, in one transaction, so it is never half there; a second copy would double the journal's
 * largest part (`replay --as-of-line` before it replays from the start instead).
 */
export const pgSnapshotsKept = 1;
/**
 * A PostgreSQL snapshot is layered on the last full one (only the index entries added or changed
 * since) while those are at most this share of the index; a larger change writes a full one, so
 * recovery reads at most 1.25 × the index and the delta never outgrows its use.
 */
export const snapshotDeltaShareMax = 0.25;
/** Records read per COPY when recovering (bounds the memory a long tail takes). */
export const pgReadWindowRecords = 65_536;

// Relations the code relies on: fail at load, not with a silently wrong number.
const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`invariant: constants: ${what}`);
};
check((duplicateFlag & typeMask) === 0 && duplicateFlag <= 0x80, 'the kind byte (type | duplicateFlag) fits a u8');
check(clientsMax === 1 << 16, 'client ids are u16');
check(snapshotPartTxs % txPageEntries === 0, 'snapshot parts hold whole index pages');
check(workersMax >= 1 && workersMax <= 256, 'workersMax is a small positive count');
check(batchRowsInitial > 0 && readChunkBytes > 0 && inflightChunksMax > 0, 'positive sizes');
check(retryDelayFirstMs > 0 && retryDelayFirstMs <= retryDelayMaxMs, 'retry delays grow from the first to the cap');
check(publishRetryDelayFirstMs > 0 && publishRetryDelayFirstMs <= publishRetryDelayMaxMs, 'publish retry delays grow');
check(lagRetryDelayFirstMs > 0 && lagRetryDelayFirstMs <= lagRetryDelayMaxMs, 'lag retry delays grow');
check(publishRetryDelayMaxMs < publishRetryMs, 'a failed publish is tried more than once before submit gives up');
check(leaseMsMin <= leaseMsDefault && leaseMsDefault <= leaseMsMax, 'the default lease is one --lease-ms accepts');
// A node renews every third of its lease (clamped to the tick bounds): at least twice before it runs out.
check(leaseMsMin >= 3 * tickMsMin, 'even the shortest lease is renewed at least twice before it runs out');
check(tickMsMin < tickMsMax, 'tick bounds');
check(goneAfterMs >= 2 * Math.min(tickMsMax, leaseMsDefault / 3), 'a live node heartbeats twice within goneAfterMs');
check(goneAfterMs < leaseMsDefault, 'a gone node is seen before its lease runs out (at the default lease)');
check('payments node '.length + nodeIdCharsMax <= 63, 'a node id fits its session name');
check(shardThreadsMax === workersMax, 'a node can run every shard of a run (a run has at most workersMax)');
check(shardsDefault >= 1 && shardsDefault <= workersMax, 'the default shard count is one --shards accepts');
check(lagBatchesDefault >= 1 && lagBatchesDefault <= lagBatchesMax, 'the default --max-lag is one it accepts');
check(batchesInFlightMax >= 1 && publishesPendingMax >= 1 && consumeMessagesMax >= 1, 'positive windows');
check(natsHeaderRoomBytes < natsPayloadMinBytes, 'a batch message has room for its rows after its headers');
check(clusterSnapshotRecordsMin <= snapshotEveryRecordsMin, 'a shard snapshots no less often than a single run');
check(
  clusterSnapshotGrowth > 0 && clusterSnapshotGrowth <= 1,
  'a shard snapshots again once it grew by a share of at most its size',
);
