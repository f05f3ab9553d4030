/**
 * The main job, on the parsing thread: stream the input, route rows to the shard workers with a
 * bounded number of chunks in flight, write rejected rows in input order as their chunks complete,
 * then merge every shard's accounts into one sorted list.
 *
 *   input ─► readRowChunks ─► ChunkRouter ─► ShardPool (one worker per shard) ─► merge ─► stdout
 *                                 │                        │ rejections
 *                                 └─ malformed rows ───────┴─► rejects writer (input order)
 */
import { inflightChunksMax } from '../constants.js';
import { reasonOf, rejectionReasons, type RejectionReason } from '../domain/rejection.js';
import { lineOf, openInput, readRowChunks, type InputSource } from '../io/csv-reader.js';
import { formatAccounts, formatRejection, type AccountRow } from '../io/csv-writer.js';
import { echoFields } from '../io/row.js';
import { ShardPool } from '../pool/shard-pool.js';
import type { FinishReply } from '../pool/protocol.js';
import { ChunkRouter, reasonSlots, type RoutedChunk } from './router.js';
import type { RejectsSink } from './rejects-sink.js';

export interface ProcessOptions {
  readonly input: string;
  readonly workers: number;
  readonly rejects?: RejectsSink;
  /** Called after each chunk is routed, for progress. */
  readonly onProgress?: (bytesRead: number, rowsRead: number) => void;
}

export interface RunSummary {
  inputName: string;
  inputBytes: number | undefined;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  rejectedByReason: Record<RejectionReason, number>;
  accounts: number;
  lockedAccounts: number;
  workers: number;
  eventsAppended: number;
  storedTxCount: number;
  journalIndexBytes: number;
  seenTxBytes: number;
}

export interface ProcessResult {
  accountsCsv: string;
  summary: RunSummary;
}

export async function processFile(options: ProcessOptions): Promise<ProcessResult> {
  const source = await openInput(options.input);
  const pool = new ShardPool(options.workers);
  try {
    return await run(source, pool, options);
  } finally {
    source.stream.destroy();
    await pool.close();
  }
}

async function run(source: InputSource, pool: ShardPool, options: ProcessOptions): Promise<ProcessResult> {
  const router = new ChunkRouter(pool.shards, source.name);
  const rejectedByReason = Object.fromEntries(rejectionReasons.map((r) => [r, 0])) as Record<RejectionReason, number>;
  const pending: Promise<number[]>[] = [];
  const pendingChunks: RoutedChunk[] = [];
  let rowsRead = 0;

  // Writes one completed chunk's rejections, merged across shards into input order.
  const complete = async (): Promise<void> => {
    const keys = await pending.shift()!;
    const routed = pendingChunks.shift()!;
    keys.sort((a, b) => a - b);
    let text = '';
    for (const key of keys) {
      const rowIndex = Math.floor(key / reasonSlots);
      const reason = reasonOf(key % reasonSlots);
      rejectedByReason[reason]++;
      if (options.rejects) {
        text += formatRejection(lineOf(routed.chunk, rowIndex), echoFields(routed.chunk.rows[rowIndex]!, router.layout!), reason);
      }
    }
    if (options.rejects && text.length > 0) await options.rejects.write(text);
  };

  for await (const chunk of readRowChunks(source)) {
    const routed = router.route(chunk);
    rowsRead += routed.dataRows;
    const replies = routed.batches.map((batch, shard) =>
      batch === undefined ? undefined : pool.apply(shard, batch).then((reply) => ({ reply, shard })),
    );
    const keys = Promise.all(replies).then((done) => {
      const keys = routed.rejectedKeys;
      for (const item of done) {
        if (item === undefined) continue;
        const indexes = routed.rowIndexes[item.shard]!;
        const pairs = item.reply.rejected;
        for (let p = 0; p < pairs.length; p += 2) keys.push(indexes[pairs[p]!]! * reasonSlots + pairs[p + 1]!);
      }
      return keys;
    });
    keys.catch(() => undefined); // awaited in order below; this only silences the early rejection
    pending.push(keys);
    pendingChunks.push(routed);
    options.onProgress?.(chunk.bytesRead, rowsRead);
    while (pending.length >= inflightChunksMax) await complete();
  }
  while (pending.length > 0) await complete();

  const finished = await Promise.all(Array.from({ length: pool.shards }, (_, shard) => pool.finish(shard)));
  const accounts = mergeAccounts(finished);
  const rowsRejected = Object.values(rejectedByReason).reduce((a, b) => a + b, 0);
  return {
    accountsCsv: formatAccounts(accounts),
    summary: {
      inputName: source.name,
      inputBytes: source.sizeBytes,
      rowsRead,
      rowsAccepted: rowsRead - rowsRejected,
      rowsRejected,
      rejectedByReason,
      accounts: accounts.length,
      lockedAccounts: accounts.filter((a) => a.locked).length,
      workers: pool.shards,
      eventsAppended: sum(finished.map((f) => f.eventsAppended)),
      storedTxCount: sum(finished.map((f) => f.storedTxCount)),
      journalIndexBytes: sum(finished.map((f) => f.indexBytes)),
      seenTxBytes: router.seenTxBytes,
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
