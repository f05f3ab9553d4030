/**
 * A shard's worker thread (Piscina task handler). It owns its shard's engine and journal partition
 * for the whole run; batches arrive numbered, and one out of order (or a replaced thread that lost
 * its state) is a fatal error, never silently accepted. Every task replies with data: its result,
 * or its failure (kind, message, code) — nothing is thrown across the thread boundary.
 */
import { getHeapStatistics } from 'node:v8';
import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { TxBatch } from '../engine/batch.js';
import type { InputProof } from '../io/input-proof.js';
import { ShardEngine } from '../engine/shard-engine.js';
import { describeError, errorCode, runFailure, RunError, toFailureData } from '../errors.js';
import type { JournalPartition } from '../engine/journal-port.js';
import { NullJournal } from '../journal/null-journal.js';
import { partitionName } from '../journal/format.js';
import { sqliteCode } from '../journal/sqlite/sqlite-errors.js';
import { isPostgresUrl, parsePostgresUrl } from '../journal/postgres/url.js';
import { flushTracing, startTracing, traced, type TraceCarrier } from '../ops/tracing.js';
import type { ApplyReply, FinishReply, OpenReply, Reply, WorkerConfig, WorkerSeal, WorkerTask } from './protocol.js';
import { tracedPartition } from './traced-journal.js';

const config = workerData as WorkerConfig;
/**
 * The shard's logger. pino adds ~25 ms to a worker's start (measured), and a worker without a
 * journal logs only at debug and trace: below those it gets none (see open).
 */
let log: Pick<Logger, 'warn' | 'debug' | 'trace'> = { warn: () => {}, debug: () => {}, trace: () => {} };
let engine: ShardEngine | undefined;
let nextSeq = 0;

export default async function handleTask(task: WorkerTask): Promise<unknown> {
  try {
    switch (task.op) {
      case 'open':
        return ok(await open(task.trace, task.sealed, task.formatVersion));
      case 'apply':
        return await traced(
          'payments.shard.apply',
          { 'payments.shard': config.shard, 'payments.seq': task.seq, 'payments.rows': task.batch.count },
          () => apply(task.seq, task.batch, task.proof),
          task.trace,
        );
      case 'finish':
        return ok(
          await traced(
            'payments.shard.finish',
            { 'payments.shard': config.shard },
            () => finish(task.complete),
            task.trace,
          ),
        );
      case 'close':
        await engine?.journal.close();
        await flushTracing(); // this thread's spans, before the pool ends it
        return ok(undefined);
    }
  } catch (error) {
    const reply: Reply<never> = { ok: false, error: toFailureData(inShard(error)) };
    return reply;
  }
}

const ok = <T>(value: T): Reply<T> => ({ ok: true, value });

/** A failure with the partition it happened in; SQLite's code kept for the main thread's message. */
function inShard(error: unknown): unknown {
  if (error instanceof RunError || config.journalDir === undefined) return error;
  const code = sqliteCode(error);
  if (code === undefined) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RunError(`${partitionName(config.journalDir, config.shard)}: ${message} (${code})`, 1, {
    kind: 'failure',
    code,
  });
}

/** A PostgreSQL partition over this worker's own connection; a reconnect is logged as a warning. */
async function postgresPartition(location: string, sealed: WorkerSeal | undefined): Promise<JournalPartition> {
  const target = parsePostgresUrl(location);
  // Loaded only for a PostgreSQL journal, like SQLite for a directory (RSS per thread).
  const { PostgresPartition } = await import('../journal/postgres/partition.js');
  return new PostgresPartition(target, config.shard, config.shards, {
    keys: sealed?.keys ?? [],
    onRetry: (attempt, delayMs, error) =>
      log.warn(
        { attempt, delayMs: Math.round(delayMs), code: errorCode(error) },
        `journal ${target.display} partition ${config.shard}: lost the server (${describeError(error)}); retry ${attempt} in ${Math.round(delayMs)} ms`,
      ),
  });
}

async function open(
  trace: TraceCarrier | undefined,
  sealed: WorkerSeal | undefined,
  formatVersion: number | undefined,
): Promise<OpenReply> {
  const started = performance.now();
  if (trace !== undefined) await startTracing(); // the main thread traces: so does this one
  if (config.journalDir !== undefined || config.log.level === 'debug' || config.log.level === 'trace')
    log = (await import('../ops/logger.js')).createLogger(config.log, { shard: config.shard });
  // SQLite is loaded only for a durable run: a worker without it starts smaller (RSS is per thread).
  const journal: JournalPartition =
    config.journalDir === undefined
      ? new NullJournal()
      : isPostgresUrl(config.journalDir)
        ? await postgresPartition(config.journalDir, sealed)
        : (await import('../journal/sqlite/writer.js')).SqliteJournal.open(
            config.journalDir,
            config.shard,
            config.shards,
            sealed,
            formatVersion,
          );
  try {
    const opened = await traced(
      'payments.shard.recover',
      { 'payments.shard': config.shard },
      () => ShardEngine.open(trace === undefined ? journal : tracedPartition(journal, config.shard)),
      trace,
    );
    engine = opened.engine;
    const { torn } = opened.recovery;
    const recoveryMs = performance.now() - started;
    if (torn)
      log.warn(
        { torn },
        `journal partition ${config.shard}: dropped a torn last batch (lines ${torn.firstLine}-${torn.lastLine}); its rows will be applied again`,
      );
    log.debug({ ...opened.recovery, recoveryMs }, 'journal partition opened');
    return { ...opened.recovery, recoveryMs };
  } catch (error) {
    await journal.close();
    throw error;
  }
}

async function apply(seq: number, batch: TxBatch, proof: InputProof): Promise<unknown> {
  if (engine === undefined) throw runFailure(`shard ${config.shard}: batch before open`);
  if (seq !== nextSeq) throw runFailure(`shard ${config.shard}: batch ${seq} arrived, expected ${nextSeq}`);
  nextSeq++;
  const started = performance.now();
  const rejected = await engine.applyBatch(batch, proof);
  const applyMs = performance.now() - started;
  log.trace({ seq, rows: batch.count, rejected: rejected.length / 2, applyMs }, 'batch applied');
  const reply: Reply<ApplyReply> = ok({ rejected, applyMs, buffer: batch.buffer });
  // Transfer the buffer back (Piscina moves what a returned Transferable lists).
  return Piscina.move({ [Piscina.transferableSymbol]: [batch.buffer], [Piscina.valueSymbol]: reply } as never);
}

async function finish(complete: boolean): Promise<FinishReply> {
  if (engine === undefined) throw runFailure(`shard ${config.shard}: finish before open`);
  // A run stopped early resumes from here: a whole snapshot. A finished one ends with its accounts
  // alone (where the journal's format allows it): no row can follow the last, and replay reads
  // nothing else; the transaction index, most of a snapshot's bytes, is left out.
  await engine.journal.writeSnapshot({ ...engine.state(), accountsOnly: complete });
  await engine.journal.close();
  log.debug(
    {
      rowsApplied: engine.rowsApplied,
      records: engine.records,
      accounts: engine.accountCount,
      indexBytes: engine.indexBytes,
      heap: getHeapStatistics(),
    },
    'shard finished',
  );
  return {
    accounts: engine.accounts(),
    rowsApplied: engine.rowsApplied,
    eventsAppended: engine.events,
    recordsAppended: engine.records,
    storedTxCount: engine.storedTxCount,
    indexBytes: engine.indexBytes,
  };
}
