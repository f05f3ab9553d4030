/**
 * A node's owned shard, in one of its shard threads (one long-running Piscina task per shard,
 * several to a thread: shard-threads.ts): the same engine (ShardEngine) over the shard's PostgreSQL journal partition as a single-process run's
 * worker. Recovery, apply, fenced commits, snapshots and the final snapshot all run here, so the
 * node's main thread (leases, heartbeats, NATS, HTTP) never waits behind engine work.
 *
 * The main thread sends batches over the task's MessagePort, in stream order, a bounded number
 * ahead; each is applied and acknowledged ('applied') in that order. 'stop' closes the partition
 * and returns (so does the port closing); 'end' writes the final snapshot first. A failure (fenced commit, lost database past
 * the retry bound, a corrupt journal) is returned as data (toFailureData), never thrown across.
 */
import { threadId } from 'node:worker_threads';
import { ShardEngine } from '../engine/shard-engine.js';
import { describeError, errorCode, toFailureData } from '../errors.js';
import { PostgresPartition } from '../journal/postgres/partition.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';
import { createLogger } from '../ops/logger.js';
import { flushTracing, startTracing, traced } from '../ops/tracing.js';
import { tracedPartition } from '../pool/traced-journal.js';
import { snapshotDue } from './snapshot-policy.js';
import { Inbox } from './shard-inbox.js';
import { warmUpShardThread } from './thread-warm-up.js';
import type { FromShardWorker, ShardOutcome, ShardTask, ShardTaskReply } from './shard-protocol.js';

/**
 * A thread warms up (thread-warm-up.ts) once, as it starts: the node starts its threads before it
 * claims anything. A thread given a shard first is warmed by the shard, and skips it.
 */
const warmUpTimer = setTimeout(() => {
  warmUpShardThread().catch(() => undefined); // a failed warm-up only leaves the thread cold
}, 0).unref();

/** One owned shard, for as long as the node runs it; a thread runs several of these at once (shard-threads.ts). */
export default async function runShard(task: ShardTask): Promise<ShardTaskReply> {
  clearTimeout(warmUpTimer);
  const { port, run, shard, shards } = task;
  if (task.trace !== undefined) await startTracing(); // the node traces: so does this thread
  const log = createLogger(task.log, { ...task.bindings, thread: threadId });
  const inbox = new Inbox(port);
  const send = (message: FromShardWorker) => port.postMessage(message);
  let partition: PostgresPartition | undefined;
  // The runner closes its end once it no longer waits for this task (stopped while recovering, or
  // not stopped in time): whatever the session waits for then fails at once, so the task ends and
  // frees its place on the thread, which it shares with other shards.
  port.once('close', () => partition?.abandon());
  try {
    const started = performance.now();
    const target = parsePostgresUrl(task.journalUrl);
    partition = new PostgresPartition(target, shard, shards, {
      keys: task.keys,
      onRetry: (attempt, delayMs, error) => {
        send({ type: 'retrying' });
        log.warn(
          { run, shard, attempt, delayMs: Math.round(delayMs), code: errorCode(error) },
          `journal: retrying (${describeError(error)})`,
        );
      },
    });
    const journal = task.trace === undefined ? partition : tracedPartition(partition, shard);
    const { engine, recovery } = await traced(
      'payments.shard.recover',
      { 'payments.run': run, 'payments.shard': shard },
      () => ShardEngine.open(journal),
      task.trace,
    );
    send({ type: 'recovered', info: { ...recovery, recoveryMs: performance.now() - started }, threadId });
    const snapshots = { records: engine.records, ms: performance.now() };
    const outcome = (finished: boolean): ShardOutcome => ({
      finished,
      rowsApplied: engine.rowsApplied,
      records: engine.records,
    });
    for (;;) {
      const message = await inbox.next();
      if (message.type === 'stop') {
        if (message.handoff !== true) return { ok: true, value: outcome(false) };
        // Pekko-style handoff: what was committed, snapshotted (fenced like any write), so the
        // next owner starts from it and replays nothing.
        const t0 = performance.now();
        if (engine.records > snapshots.records) await journal.writeSnapshot(engine.state());
        log.debug({ run, shard, snapshotMs: Math.round(performance.now() - t0) }, 'handoff snapshot written');
        return { ok: true, value: { ...outcome(false), handedOff: true } };
      }
      if (message.type === 'end') {
        // Durable once it returns; closed below. No batch can follow the end of a run and its
        // outputs read accounts only: the index (most of the bytes) is left out.
        await journal.writeSnapshot({ ...engine.state(), accountsOnly: true });
        return { ok: true, value: outcome(true) };
      }
      const t0 = performance.now();
      const batch = { count: message.count, buffer: message.buffer };
      const attributes = { 'payments.run': run, 'payments.shard': shard, 'payments.rows': message.count };
      // A batch of an untraced submit gets no span: the node does not start traces of its own per batch.
      await (message.trace === undefined
        ? engine.applyBatch(batch)
        : traced('payments.shard.apply', attributes, () => engine.applyBatch(batch), message.trace));
      const applyMs = performance.now() - t0;
      if (snapshotDue(engine.records, snapshots)) {
        await journal.writeSnapshot(engine.state());
        snapshots.records = engine.records;
        snapshots.ms = performance.now();
      }
      log.trace({ run, shard, seq: message.seq, rows: message.count, applyMs }, 'batch applied');
      send({ type: 'applied', seq: message.seq, rows: message.count, applyMs, commitMs: engine.lastCommitMs });
    }
  } catch (error) {
    return { ok: false, error: toFailureData(error) };
  } finally {
    // Lets the batch in flight land (or fail: fencing), then ends the session and its lock.
    await partition?.close();
    port.close();
    await flushTracing(); // this thread's spans, before it takes another shard or ends
  }
}
