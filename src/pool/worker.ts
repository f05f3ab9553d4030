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
import { createLogger } from '../ops/logger.js';
import type { ApplyReply, FinishReply, WorkerConfig, WorkerTask } from './protocol.js';

const config = workerData as WorkerConfig;
const log = createLogger(config.log, { shard: config.shard });
const engine = new ShardEngine(new MemoryJournal());
let nextSeq = 0;
log.debug('shard worker started');

export default function handleTask(task: WorkerTask): unknown {
  switch (task.op) {
    case 'apply': {
      if (task.seq !== nextSeq) {
        throw new Error(`shard ${config.shard}: batch ${task.seq} arrived, expected ${nextSeq}`);
      }
      nextSeq++;
      const started = performance.now();
      const rejected = engine.applyBatch(task.batch);
      const applyMs = performance.now() - started;
      log.trace({ seq: task.seq, rows: task.batch.count, rejected: rejected.length / 2, applyMs }, 'batch applied');
      const reply: ApplyReply = { rejected, applyMs, buffer: task.batch.buffer };
      // Transfer the buffer back (Piscina moves what a returned Transferable lists).
      return Piscina.move({ [Piscina.transferableSymbol]: [reply.buffer], [Piscina.valueSymbol]: reply } as never);
    }
    case 'finish': {
      log.debug(
        { rowsApplied: engine.rowsApplied, events: engine.journal.lastSeq, accounts: engine.registry.size, indexBytes: engine.journal.indexBytes, heap: getHeapStatistics() },
        'shard finished',
      );
      const reply: FinishReply = {
        accounts: engine.accounts(),
        rowsApplied: engine.rowsApplied,
        eventsAppended: engine.journal.lastSeq,
        storedTxCount: engine.journal.storedTxCount,
        indexBytes: engine.journal.indexBytes,
      };
      return reply;
    }
  }
}
