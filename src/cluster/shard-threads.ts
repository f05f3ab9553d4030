/**
 * A node's shard threads: a fixed pool, started with the node, on which its shards share threads
 * (as Kafka Streams runs its tasks on a fixed set of stream threads). Each owned shard is one
 * long-running asynchronous task (shard-worker.ts); a thread runs several of them, interleaved
 * between batches, each with its own engine, journal session and message port.
 *
 * Why not a thread per shard: every thread is an isolate that loads the engine and pg (about
 * 100 ms of CPU) and compiles its hot code once more, and a node that ran eight shards on two
 * cores started eight of them during a run, plus ready ones for takeovers: more than a third of its
 * CPU (docs/performance.md). With a fixed pool the threads start once, before any run, and a claim
 * (a takeover or a handoff) runs on a thread that is already warm.
 *
 * Shards sharing a thread cannot be terminated one by one: a shard task is stopped by its port
 * (a 'stop', or the port closing), and one that does not stop in time is left to end on its own,
 * its writes refused by the lease fence (shard-runner.ts).
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { shardThreadsMax, workerYoungGenerationMb } from '../constants.js';

/** The default thread count: one a core (the node's main thread only moves messages). */
export function defaultShardThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, shardThreadsMax));
}

const shardWorkerFile = new URL('./shard-worker.js', import.meta.url).href;

/** A node's pool of `threads` shard threads, all started now; any number of shards run on each. */
export function shardThreadPool(threads: number, workerFile = shardWorkerFile): Piscina {
  return new Piscina({
    filename: workerFile,
    minThreads: threads,
    maxThreads: threads,
    // A shard's task waits on its port most of the time: the balancer puts the next one on the thread with fewest.
    concurrentTasksPerWorker: shardThreadsMax,
    idleTimeout: Infinity,
    // The event loop runs between tasks too (a task's last socket closes after it returns).
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb },
  });
}
