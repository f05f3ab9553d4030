/**
 * The transport-agnostic pipeline (src/pipeline/pipeline.ts) through an in-memory BatchSink that
 * decides rejections of its own, some at once and some later and out of order: every well-formed
 * row reaches its client's shard exactly once, in input order, one batch per shard and chunk; the
 * router's and the sink's rejections come out merged in input order; a buffer goes back to the
 * router only once the sink is done with it; a signal stops reading; a sink's failure is the run's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { columnsOf, type TxBatch } from '../../src/engine/batch.js';
import { reasonCode, type RejectionReason } from '../../src/domain/rejection.js';
import { shardOf } from '../../src/domain/ids.js';
import { runPipeline, type PipelineOptions } from '../../src/pipeline/pipeline.js';
import type { RoutedChunk } from '../../src/pipeline/router.js';
import type { BatchDone, BatchSink } from '../../src/pipeline/sink.js';
import { chunkedSource } from '../helpers/chunked-source.js';

interface Row {
  readonly line: number;
  readonly text: string;
  readonly client: number;
  /** The router's verdict (malformed rows), the sink's, or undefined when accepted. */
  readonly reason: RejectionReason | undefined;
  readonly wellFormed: boolean;
}

/** A header and `count` rows: deposits, some malformed (router), some the sink rejects (tx % 7 === 0). */
function input(count: number, seed: number): { text: string; rows: Row[] } {
  let state = seed >>> 0 || 1;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const line = i + 2;
    const tx = i + 1;
    const client = 1 + next(40);
    const kind = next(10);
    if (kind === 0)
      rows.push({ line, text: `bogus,${client},${tx},1`, client, reason: 'unknown_type', wellFormed: false });
    else if (kind === 1)
      rows.push({ line, text: `deposit,x${client},${tx},1`, client, reason: 'invalid_client', wellFormed: false });
    else {
      const text = `deposit,${client},${tx},${1 + next(99)}.${next(10)}`;
      rows.push({ line, text, client, reason: tx % 7 === 0 ? 'insufficient_funds' : undefined, wellFormed: true });
    }
  }
  return { text: `type,client,tx,amount\n${rows.map((r) => r.text).join('\n')}\n`, rows };
}

interface Accepted {
  readonly shard: number;
  readonly chunk: RoutedChunk;
  readonly lines: number[];
}

/** Rejects rows whose tx is a multiple of 7; shard 0 answers at once, the others after random delays. */
class MemorySink implements BatchSink<string> {
  readonly accepted: Accepted[] = [];
  readonly completedLines: number[] = [];
  private readonly held = new Set<ArrayBuffer>();
  reused = 0;
  private readonly seen = new Set<ArrayBuffer>();

  constructor(private readonly fail?: { atCall: number; error: Error }) {}

  accept(shard: number, batch: TxBatch, chunk: RoutedChunk): BatchDone | Promise<BatchDone> {
    if (this.fail && this.accepted.length === this.fail.atCall) return Promise.reject(this.fail.error);
    // A buffer the router hands out again must have been given back.
    expect(this.held.has(batch.buffer)).toBe(false);
    if (this.seen.has(batch.buffer)) this.reused++;
    this.seen.add(batch.buffer);
    this.held.add(batch.buffer);
    const cols = columnsOf(batch.buffer);
    const lines = Array.from(cols.lines.subarray(0, batch.count));
    const rejected: number[] = [];
    for (let i = 0; i < batch.count; i++)
      if (cols.txs[i]! % 7 === 0) rejected.push(i, reasonCode('insufficient_funds'));
    this.accepted.push({ shard, chunk, lines });
    const done = (): BatchDone => {
      this.held.delete(batch.buffer);
      return { buffer: batch.buffer, rejected };
    };
    if (shard === 0) return done();
    return new Promise((resolve) => setTimeout(() => resolve(done()), Math.floor(Math.random() * 4)));
  }

  async completed(lastLine: number): Promise<void> {
    this.completedLines.push(lastLine);
  }

  async end(): Promise<string> {
    return 'ended';
  }
}

async function pipe(
  text: string,
  reads: number[],
  shards: number,
  sink: MemorySink,
  extra: Partial<PipelineOptions> = {},
) {
  const written: string[] = [];
  const rejects = { write: async (t: string) => void written.push(t) };
  const source = chunkedSource(Buffer.from(text, 'latin1'), reads);
  const result = await runPipeline({ source, shards, delimiter: ',', sniffDelimiter: true, rejects, ...extra }, sink);
  return { result, written };
}

const expectedRejects = (rows: readonly Row[]) =>
  rows
    .filter((r) => r.reason !== undefined)
    .map((r) => `${r.line},${r.text},${r.reason}\n`)
    .join('');

describe('runPipeline into an in-memory sink', () => {
  it('routes every well-formed row to its shard once, in order, one batch per shard and chunk; merges rejections in line order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        async (shards, reads, seed) => {
          const { text, rows } = input(300, seed);
          const sink = new MemorySink();
          const { result, written } = await pipe(text, reads, shards, sink);

          // Routing: each shard got exactly its clients' well-formed rows, in input order.
          for (let shard = 0; shard < shards; shard++) {
            const got = sink.accepted.filter((a) => a.shard === shard).flatMap((a) => a.lines);
            const want = rows.filter((r) => r.wellFormed && shardOf(r.client, shards) === shard).map((r) => r.line);
            expect(got).toEqual(want);
          }
          // Batch boundaries: a batch holds rows of its own chunk only; a shard gets one batch per chunk.
          const chunks = [...new Set(sink.accepted.map((a) => a.chunk))];
          expect(chunks.length).toBeGreaterThan(1);
          let previousLast = 1;
          for (const chunk of chunks) {
            const batches = sink.accepted.filter((a) => a.chunk === chunk);
            expect(new Set(batches.map((a) => a.shard)).size).toBe(batches.length);
            for (const { lines } of batches) {
              expect(lines.length).toBeGreaterThan(0);
              expect(lines[0]!).toBeGreaterThan(previousLast);
              expect(lines[lines.length - 1]!).toBeLessThanOrEqual(chunk.lastLine);
            }
            previousLast = chunk.lastLine;
          }
          // Rejections, the router's and the sink's, in line order, counted by reason.
          expect(written.join('')).toBe(expectedRejects(rows));
          expect(written.every((t) => t.length > 0)).toBe(true);
          const counts: Partial<Record<RejectionReason, number>> = {};
          for (const r of rows) if (r.reason) counts[r.reason] = (counts[r.reason] ?? 0) + 1;
          for (const [reason, n] of Object.entries(result.rejectedByReason))
            expect(n).toBe(counts[reason as RejectionReason] ?? 0);
          // Chunks complete in input order; buffers the sink gave back were handed out again.
          expect(sink.completedLines).toEqual([...sink.completedLines].sort((a, b) => a - b));
          expect(sink.completedLines.at(-1)).toBe(rows.length + 1);
          expect(sink.reused).toBeGreaterThan(0);
          expect(result).toMatchObject({
            end: 'ended',
            rowsRead: rows.length,
            lastLine: rows.length + 1,
            interrupted: false,
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('without a rejects writer counts rejections the same and tracks no rows', async () => {
    const { text, rows } = input(200, 7);
    const sink = new MemorySink();
    const source = chunkedSource(Buffer.from(text, 'latin1'), [300]);
    const result = await runPipeline({ source, shards: 3, delimiter: ',', sniffDelimiter: true }, sink);
    expect(sink.accepted.every((a) => a.chunk.rowAt === undefined && a.chunk.rowIndexes === undefined)).toBe(true);
    const total = Object.values(result.rejectedByReason).reduce((a, b) => a + b, 0);
    expect(total).toBe(rows.filter((r) => r.reason !== undefined).length);
    expect(result.rejectedByReason.insufficient_funds).toBe(
      rows.filter((r) => r.reason === 'insufficient_funds').length,
    );
  });

  it('stops reading when the signal is aborted: the chunks handed over complete, the end is still called', async () => {
    const { text, rows } = input(300, 11);
    const sink = new MemorySink();
    const stop = new AbortController();
    const { result, written } = await pipe(text, [400], 2, sink, {
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });
    expect(result.interrupted).toBe(true);
    expect(result.end).toBe('ended');
    expect(result.lastLine).toBeLessThan(rows.length + 1);
    expect(written.join('')).toBe(expectedRejects(rows.filter((r) => r.line <= result.lastLine)));
  });

  it("a sink's failure fails the run, and so does its ready()", async () => {
    const { text } = input(300, 5);
    const error = new Error('shard 1 is gone');
    await expect(pipe(text, [500], 2, new MemorySink({ atCall: 3, error }))).rejects.toBe(error);
    const refusing = new MemorySink();
    const ready = async () => {
      if (refusing.accepted.length > 2) throw new Error('publishing refused');
    };
    await expect(pipe(text, [500], 2, Object.assign(refusing, { ready }))).rejects.toThrow('publishing refused');
  });

  it('the header is checked before any batch reaches the sink', async () => {
    const sink = new MemorySink();
    await expect(pipe('type;client;tx;amount\ndeposit;1;1;1\n', [100], 2, sink)).rejects.toThrow(/looks ';'-separated/);
    expect(sink.accepted).toEqual([]);
  });
});
