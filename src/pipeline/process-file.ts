/**
 * The main job, on the parsing thread: open the journal and the shard workers, run the pipeline
 * (pipeline.ts) into the workers (PoolSink), then merge every shard's accounts into one sorted list.
 *
 *   input ─► pipeline (read, route, batch) ─► PoolSink: ShardPool (one worker per shard) ─► merge ─► stdout
 *                  │                                          │ rejections
 *                  └─ malformed rows ─────────────────────────┴─► rejects writer (input order)
 */
import type { RejectionReason } from '../domain/rejection.js';
import { txTypes } from '../domain/transaction.js';
import type { LogConfig } from '../ops/logger.js';
import type { RunSummary } from '../ops/run-summary.js';
import { activeCarrier } from '../ops/tracing.js';
import { openInput, type InputSource, type ReadStats } from '../io/csv-reader.js';
import { formatAccounts, type AccountRow } from '../io/csv-writer.js';
import { ShardPool } from '../pool/shard-pool.js';
import type { FinishReply } from '../pool/protocol.js';
import { errorCode, runFailure, usageError } from '../errors.js';
import { checkRereadable, type Manifest } from '../journal/manifest.js';
import { journalDisplay, openRunJournal, type RunJournal } from '../journal/run-journal.js';
import { isSqliteFull } from '../journal/sqlite/sqlite-errors.js';
import type { JournalKeyring } from '../journal/seal.js';
import { verifyInputProofs } from '../io/input-proof.js';
import { checkInputStart, runPipeline } from './pipeline.js';
import { PoolSink } from './pool-sink.js';
import type { RejectsSink } from './rejects-sink.js';
import type { ChunkRouter } from './router.js';

export interface ProcessOptions {
  readonly input: string;
  /** Field delimiter, one character (default `,`). */
  readonly delimiter?: string;
  /** Stop (exit 2) on a first line that looks separated by another delimiter: off when the user chose one. */
  readonly sniffDelimiter?: boolean;
  readonly workers: number;
  readonly rejects?: RejectsSink;
  readonly log?: LogConfig;
  /** Called after each chunk is routed, for progress. */
  readonly onProgress?: (bytesRead: number, rowsRead: number) => void;
  /** Called when a shard has applied a batch, for metrics. */
  readonly onBatchApplied?: (shard: number, applyMs: number) => void;
  /** Directory of the durable journal (resumes what it holds); undefined: in memory. */
  readonly journalDir?: string;
  /** Keys for a sealed journal (--journal-key-file): a new journal is sealed with the first. */
  readonly journalKeys?: JournalKeyring;
  /** When aborted, reading stops, the batches in flight drain and the journal is flushed. */
  readonly signal?: AbortSignal;
  /** Called once every shard is open, with what journal recovery found. */
  readonly onOpen?: (info: OpenInfo) => void;
  /**
   * Workers already started for `workers` shards, without a journal (the caller starts them early:
   * they take ~0.1 s to boot). processFile owns them from then on and closes them.
   */
  readonly pool?: ShardPool;
}

export interface OpenInfo {
  shards: number;
  resumed: boolean;
  /** The journal's earlier run had finished: nothing is applied again. */
  complete: boolean;
  resumeLine: number;
  recordsReplayed: number;
  recoveryMs: number;
}

export interface ProcessResult {
  accountsCsv: string;
  summary: RunSummary;
  /** True when the signal stopped the run early: the accounts are then incomplete. */
  interrupted: boolean;
  /** The last input line whose rows every shard has applied. */
  lastLine: number;
  /**
   * With a journal: the last line it holds every row of (a resumed run re-reads the lines before
   * it, so this may be past lastLine), and whether it holds the whole input.
   */
  journal?: { readonly heldLine: number; readonly complete: boolean };
  /** Each partition's last sequence number at the end (with a journal: what it holds). */
  partitionRecords?: readonly number[];
}

export async function processFile(options: ProcessOptions): Promise<ProcessResult> {
  try {
    return await processSource(options);
  } finally {
    await options.pool?.close(); // also when the input or the journal could not be opened
  }
}

async function processSource(options: ProcessOptions): Promise<ProcessResult> {
  if (options.journalDir !== undefined) {
    await checkJournalInput(options.input);
    // Input refused at its first lines leaves no journal (which would refuse the corrected command).
    await checkInputStart(options.input, {
      delimiter: options.delimiter ?? ',',
      sniffDelimiter: options.sniffDelimiter ?? true,
    });
  }
  const source = await openInput(options.input, options.signal);
  let journal: RunJournal | undefined;
  try {
    let shards = options.workers;
    let manifest: Manifest | undefined;
    let resumed = false;
    const dir = options.journalDir;
    if (dir !== undefined) {
      journal = await openRunJournal(dir, options.input, options.workers, options.journalKeys, options.delimiter);
      ({ manifest, resumed } = journal);
      shards = manifest.shards; // a journal keeps the shard count it was written with
    }
    const started = options.pool;
    if (started !== undefined && (dir !== undefined || started.shards !== shards)) {
      await started.close();
      throw new Error('invariant: a started pool is for a run without a journal, with as many shards');
    }
    const pool = started ?? new ShardPool(shards, options.log ?? { level: 'silent', pretty: false }, dir);
    pool.trace = activeCarrier(); // the run's span, while tracing is on: the workers' spans are its children
    const progress = { lastLine: 0 };
    try {
      const seal = manifest?.seal;
      const opened = await pool.open(seal && { seal, keys: options.journalKeys ?? [] }, manifest?.formatVersion);
      // Before anything new is committed: the input must be, byte for byte, what the journal applied.
      if (dir !== undefined)
        await verifyInputProofs(
          options.input,
          journalDisplay(dir),
          opened.map((o, partition) => ({ partition, proofs: o.inputProofs })),
        );
      progress.lastLine = Math.min(...opened.map((o) => o.resumeLine));
      options.onOpen?.({
        shards,
        resumed,
        complete: manifest?.complete === true,
        resumeLine: Math.min(...opened.map((o) => o.resumeLine)),
        recordsReplayed: sum(opened.map((o) => o.recordsReplayed)),
        recoveryMs: Math.max(...opened.map((o) => o.recoveryMs)),
      });
      const result = await run(source, pool, options, journal, progress);
      if (manifest) {
        // Never set back: a run stopped while it re-reads what the journal holds got less far
        // than the journal had (a finished journal stays finished).
        manifest.committedLine = Math.max(manifest.committedLine, progress.lastLine, result.lastLine);
        manifest.complete ||= !result.interrupted;
        if (!result.interrupted) manifest.ends = [...result.partitionRecords!];
        await journal!.save(manifest);
        return { ...result, journal: { heldLine: manifest.committedLine, complete: manifest.complete } };
      }
      return result;
    } catch (error) {
      throw dir === undefined ? error : journalFailure(error, dir, progress.lastLine);
    } finally {
      await pool.close();
    }
  } finally {
    await journal?.close();
    await source.close();
  }
}

/** Before the journal is created or opened: its input must be a file a resume can read again. */
async function checkJournalInput(input: string): Promise<void> {
  if (input === '-') throw usageError('--journal needs an input file: standard input cannot be read again to resume');
  await checkRereadable(input);
}

/** A full disk under the journal: one line saying how far the run got and how to go on. */
function journalFailure(error: unknown, dir: string, lastLine: number): unknown {
  const code = errorCode(error);
  const path = (error as { path?: unknown } | null)?.path;
  if (isSqliteFull(error) || (code === 'ENOSPC' && typeof path === 'string' && path.startsWith(dir)))
    return runFailure(
      `journal ${journalDisplay(dir)}: disk full (${code}) after line ${lastLine}; free space and run the same command to resume`,
    );
  return error;
}

async function run(
  source: InputSource,
  pool: ShardPool,
  options: ProcessOptions,
  journal: RunJournal | undefined,
  progress: { lastLine: number },
): Promise<ProcessResult> {
  const sink = new PoolSink(pool, journal, progress, options.onBatchApplied);
  const piped = await runPipeline(
    {
      source,
      shards: pool.shards,
      delimiter: options.delimiter ?? ',',
      sniffDelimiter: options.sniffDelimiter ?? true,
      rejects: options.rejects,
      onProgress: options.onProgress,
      signal: options.signal,
      traceRead: true,
    },
    sink,
  );
  const finished = piped.end;
  const accounts = mergeAccounts(finished);
  return {
    interrupted: piped.interrupted,
    lastLine: piped.lastLine,
    partitionRecords: finished.map((f) => f.recordsAppended),
    accountsCsv: formatAccounts(accounts),
    summary: summarize(
      source,
      piped.router,
      pool.shards,
      piped.rowsRead,
      piped.rejectedByReason,
      finished,
      accounts,
      piped.readStats,
    ),
  };
}

function summarize(
  source: InputSource,
  router: ChunkRouter,
  workers: number,
  rowsRead: number,
  rejectedByReason: Record<RejectionReason, number>,
  finished: readonly FinishReply[],
  accounts: readonly AccountRow[],
  readStats: ReadStats,
): RunSummary {
  const rowsRejected = Object.values(rejectedByReason).reduce((a, b) => a + b, 0);
  return {
    inputName: source.name,
    inputBytes: source.sizeBytes,
    rowsRead,
    rowsAccepted: rowsRead - rowsRejected,
    rowsRejected,
    rejectedByReason,
    rowsByType: Object.fromEntries(txTypes.map((type, code) => [type, router.rowsByType[code]!])),
    accounts: accounts.length,
    lockedAccounts: accounts.filter((a) => a.locked).length,
    workers,
    eventsAppended: sum(finished.map((f) => f.eventsAppended)),
    journalRecords: sum(finished.map((f) => f.recordsAppended)),
    storedTxCount: sum(finished.map((f) => f.storedTxCount)),
    journalIndexBytes: sum(finished.map((f) => f.indexBytes)),
    seenTxBytes: router.seenTxBytes,
    lines: {
      physical: readStats.lines,
      header: router.headerLines,
      blank: router.blankLines,
      rows: rowsRead,
      quotedLineBreaks: readStats.quotedLineBreaks,
    },
  };
}

function mergeAccounts(replies: readonly FinishReply[]): AccountRow[] {
  const rows: AccountRow[] = [];
  for (const { accounts } of replies) {
    for (let i = 0; i < accounts.clients.length; i++) {
      rows.push({
        client: accounts.clients[i]!,
        available: accounts.available[i]!,
        held: accounts.held[i]!,
        locked: accounts.locked[i] === 1,
      });
    }
  }
  return rows;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
