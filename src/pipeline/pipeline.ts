/**
 * Read → route → batch → rejected-row merge, once for every transport: stream the input, route its
 * rows into one batch per shard, hand each batch to a BatchSink (the worker pool, a JetStream
 * stream, the journal's verdicts), with a bounded number of chunks in flight, and write rejected
 * rows in input order as their chunks complete.
 *
 *   input ─► readRowChunks ─► ChunkRouter ─► BatchSink.accept (per shard batch) ─► BatchSink.end
 *                                 │                  │ rejections
 *                                 └─ malformed rows ─┴─► rejects writer (input order)
 */
import { inflightChunksMax, reasonSlots } from '../constants.js';
import { reasonOf, rejectionReasons, type RejectionReason } from '../domain/rejection.js';
import { readRowChunks, type InputSource, type ReadStats } from '../io/csv-reader.js';
import { openInput } from '../io/input-source.js';
import { formatRejection } from '../io/csv-writer.js';
import { startSpan } from '../ops/tracing.js';
import { ChunkRouter, type RoutedChunk } from './router.js';
import type { BatchDone, BatchSink, RejectsWriter } from './sink.js';

export interface PipelineOptions {
  readonly source: InputSource;
  readonly shards: number;
  /** Field delimiter, one character. */
  readonly delimiter: string;
  /** Stop (exit 2) on a first line that looks separated by another delimiter: off when the user chose one. */
  readonly sniffDelimiter: boolean;
  /** Rejected rows, echoed in input order; without it they are only counted (and rows are not tracked). */
  readonly rejects?: RejectsWriter;
  /** Called after each chunk is routed, for progress. */
  readonly onProgress?: (bytesRead: number, rowsRead: number) => void;
  /** When aborted, reading stops and the chunks in flight complete. */
  readonly signal?: AbortSignal;
  /** Reading and routing as a span of their own (`payments.read`), while tracing is on. */
  readonly traceRead?: boolean;
}

export interface PipelineResult<End> {
  /** What the sink's end() returned. */
  readonly end: End;
  /** The router, for its counts (rows by type, header and blank lines, the duplicate-tx set's size). */
  readonly router: ChunkRouter;
  readonly rowsRead: number;
  readonly rejectedByReason: Record<RejectionReason, number>;
  /** True when the signal stopped reading early. */
  readonly interrupted: boolean;
  /** The last input line of the last chunk completed. */
  readonly lastLine: number;
  readonly readStats: ReadStats;
}

export async function runPipeline<End>(options: PipelineOptions, sink: BatchSink<End>): Promise<PipelineResult<End>> {
  const { source, delimiter } = options;
  const router = new ChunkRouter(
    options.shards,
    source.name,
    options.rejects !== undefined,
    delimiter,
    options.sniffDelimiter,
  );
  const inFlight = new ChunksInFlight(router, sink, options.rejects);
  const readStats: ReadStats = { lines: 0, quotedLineBreaks: 0 };
  let rowsRead = 0;
  let interrupted = false;
  // Reading and routing, until the last chunk is handed to the sink (not while it drains).
  const reading = options.traceRead ? startSpan('payments.read', { 'payments.input': source.name }) : undefined;
  try {
    for await (const chunk of readRowChunks(source, { delimiter }, readStats)) {
      const routed = router.route(chunk);
      rowsRead += routed.dataRows;
      if (sink.begin) await sink.begin(routed);
      inFlight.dispatch(routed);
      options.onProgress?.(chunk.bytesRead, rowsRead);
      while (inFlight.size >= inflightChunksMax) await inFlight.completeOldest();
      if (sink.ready) await sink.ready();
      if (options.signal?.aborted) {
        interrupted = true; // a signal after the last read does not make the run incomplete
        break;
      }
    }
    reading?.setAttributes({ 'payments.rows': rowsRead, 'payments.lines': readStats.lines });
    reading?.end();
  } catch (error) {
    reading?.end(error);
    throw error;
  }
  while (inFlight.size > 0) await inFlight.completeOldest();
  const end = await sink.end(interrupted);
  const { rejectedByReason, lastLine } = inFlight;
  return { end, router, rowsRead, rejectedByReason, interrupted, lastLine, readStats };
}

/**
 * Reads and routes the input's first chunks as a run would, up to its first line that is not
 * blank, and throws what the run would throw there: a first line separated by another delimiter,
 * a header without a column, an unterminated quote. Nothing is sent anywhere. A durable run calls
 * it before it makes a journal, so that input refused at its first lines leaves no journal behind
 * that would then refuse the corrected command.
 */
export async function checkInputStart(
  path: string,
  options: { readonly delimiter: string; readonly sniffDelimiter: boolean },
): Promise<void> {
  const source = await openInput(path);
  try {
    const router = new ChunkRouter(1, source.name, false, options.delimiter, options.sniffDelimiter);
    // Until the first line that is not blank has been judged (a header, or the first row).
    for await (const chunk of readRowChunks(source, { delimiter: options.delimiter })) {
      router.route(chunk);
      if (router.layout !== undefined) return;
    }
  } finally {
    await source.close();
  }
}

type ShardDone = { done: BatchDone; shard: number } | undefined;

/**
 * The routed chunks whose batches the sink holds, oldest first (the backpressure window). A chunk
 * completes once the sink is done with all its batches: its rejections, the router's and the
 * sink's, are counted and written in input order. Rows are kept only to echo rejected rows, so
 * only when rejected rows are written.
 */
class ChunksInFlight {
  readonly rejectedByReason = Object.fromEntries(rejectionReasons.map((r) => [r, 0])) as Record<
    RejectionReason,
    number
  >;
  lastLine = 0;
  private readonly pending: { keys: Promise<number[]>; routed: RoutedChunk }[] = [];

  constructor(
    private readonly router: ChunkRouter,
    private readonly sink: BatchSink<unknown>,
    private readonly rejects: RejectsWriter | undefined,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  /** Hands each shard its batch of the chunk; the chunk's rejection keys arrive when the sink is done with all. */
  dispatch(routed: RoutedChunk): void {
    const replies = routed.batches.map((batch, shard): ShardDone | Promise<ShardDone> => {
      if (batch === undefined) return undefined;
      const done = this.sink.accept(shard, batch, routed);
      if (!(done instanceof Promise)) return this.settle(done, shard); // copied: its buffer is free now
      return done.then((d) => this.settle(d, shard));
    });
    const keys = Promise.all(replies).then((done) => rejectionKeys(routed, done));
    keys.catch(() => undefined); // awaited in order by completeOldest; this only silences the early rejection
    this.pending.push({ keys, routed });
  }

  async completeOldest(): Promise<void> {
    const { keys: keysDone, routed } = this.pending.shift()!;
    const keys = await keysDone;
    keys.sort((a, b) => a - b);
    let text = '';
    for (const key of keys) {
      const reason = reasonOf(key % reasonSlots);
      this.rejectedByReason[reason]++;
      if (routed.rowAt !== undefined) {
        const row = routed.rowAt(Math.floor(key / reasonSlots));
        text += formatRejection(row.line, this.router.echo(row.fields), reason);
      }
    }
    if (this.rejects && text.length > 0) await this.rejects.write(text);
    this.lastLine = routed.lastLine;
    if (this.sink.completed) await this.sink.completed(routed.lastLine);
  }

  private settle(done: BatchDone, shard: number): ShardDone {
    if (done.buffer !== undefined) this.router.recycle(done.buffer);
    return { done, shard };
  }
}

/** All of a chunk's rejections as sort keys (row index × reasonSlots + reason code). */
function rejectionKeys(routed: RoutedChunk, replies: readonly ShardDone[]): number[] {
  const keys = routed.rejectedKeys;
  for (const item of replies) {
    const pairs = item?.done.rejected;
    if (pairs === undefined) continue;
    const indexes = routed.rowIndexes?.[item!.shard];
    for (let p = 0; p < pairs.length; p += 2) {
      // Without row tracking only the reasons are counted, so any row index will do.
      keys.push((indexes === undefined ? 0 : indexes[pairs[p]!]!) * reasonSlots + pairs[p + 1]!);
    }
  }
  return keys;
}
