/**
 * A shard's worker thread (Piscina task handler). It owns its shard's client actors and journal
 * partition for the whole run; batches arrive numbered, and one out of order (or a replaced thread
 * that lost its state) is a fatal error, never silently accepted.
 */
import { getHeapStatistics } from 'node:v8';
import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ShardEngine } from '../engine/shard-engine.js';
import { MemoryJournal } from '../journal/memory-journal.js';
import { JournalCorrupt } from '../errors.js';
import { SqliteJournal } from '../journal/sqlite-journal.js';
import { createLogger } from '../ops/logger.js';
import type { ApplyReply, FinishReply, OpenReply, WorkerConfig, WorkerTask } from './protocol.js';

const config = workerData as WorkerConfig;
const log = createLogger(config.log, { shard: config.shard });
let engine: ShardEngine | undefined;
let durable: SqliteJournal | undefined;
let nextSeq = 0;

export default function handleTask(task: WorkerTask): unknown {
  switch (task.op) {
    case 'open':
      return open();
    case 'apply': {
      if (engine === undefined) throw new Error(`shard ${config.shard}: batch before open`);
      if (task.seq !== nextSeq)
        throw new Error(`shard ${config.shard}: batch ${task.seq} arrived, expected ${nextSeq}`);
      nextSeq++;
      const started = performance.now();
      let rejected: Uint32Array;
      try {
        rejected = engine.applyBatch(task.batch);
      } catch (error) {
        // A journal that stops matching is the user's to fix (exit 2), not a crash.
        if (error instanceof JournalCorrupt) throw new Error(`journal: ${error.message}`);
        throw error;
      }
      const applyMs = performance.now() - started;
      log.trace({ seq: task.seq, rows: task.batch.count, rejected: rejected.length / 2, applyMs }, 'batch applied');
      const reply: ApplyReply = { rejected, applyMs, buffer: task.batch.buffer };
      // Transfer the buffer back (Piscina moves what a returned Transferable lists).
      return Piscina.move({ [Piscina.transferableSymbol]: [reply.buffer], [Piscina.valueSymbol]: reply } as never);
    }
    case 'finish':
      return finish();
  }
}

function open(): OpenReply {
  const started = performance.now();
  if (config.journalDir === undefined) {
    engine = new ShardEngine(new MemoryJournal());
    return { ok: true, resumeLine: 0, records: 0, snapshotSeq: 0, recordsReplayed: 0, recoveryMs: 0, torn: undefined };
  }
  try {
    const { journal, recovered } = SqliteJournal.open(config.journalDir, config.shard, config.shards);
    durable = journal;
    engine = new ShardEngine(journal, recovered.accounts);
    const recoveryMs = performance.now() - started;
    if (recovered.torn)
      log.warn(
        { torn: recovered.torn },
        `journal partition ${config.shard}: dropped a torn last batch (lines ${recovered.torn.firstLine}-${recovered.torn.lastLine}); its rows will be applied again`,
      );
    log.debug(
      { resumeLine: journal.resumeLine, records: journal.lastSeq, snapshotSeq: recovered.snapshotSeq, recoveryMs },
      'journal partition opened',
    );
    return {
      ok: true,
      resumeLine: journal.resumeLine,
      records: journal.lastSeq,
      snapshotSeq: recovered.snapshotSeq,
      recordsReplayed: recovered.recordsReplayed,
      recoveryMs,
      torn: recovered.torn,
    };
  } catch (error) {
    if (error instanceof JournalCorrupt) return { ok: false, message: error.message };
    throw error;
  }
}

function finish(): FinishReply {
  if (engine === undefined) throw new Error(`shard ${config.shard}: finish before open`);
  // A final snapshot, so that the next recovery (resume, replay) reads almost nothing else.
  durable?.writeSnapshot(engine.accountEntries());
  durable?.close();
  const { journal } = engine;
  log.debug(
    {
      rowsApplied: engine.rowsApplied,
      records: journal.lastSeq,
      accounts: engine.registry.size,
      indexBytes: journal.indexBytes,
      heap: getHeapStatistics(),
    },
    'shard finished',
  );
  return {
    accounts: engine.accounts(),
    rowsApplied: engine.rowsApplied,
    eventsAppended: journal.eventCount,
    recordsAppended: journal.lastSeq,
    storedTxCount: journal.storedTxCount,
    indexBytes: journal.indexBytes,
  };
}
