/** The shard worker's messages from the node's main thread (shard-worker.ts), as a queue. */
import type { MessagePort } from 'node:worker_threads';
import type { ToShardWorker } from './shard-protocol.js';

/** The port's messages as a queue the task awaits one at a time. */
export class Inbox {
  private readonly queue: ToShardWorker[] = [];
  private waiting: ((message: ToShardWorker) => void) | undefined;

  constructor(port: MessagePort) {
    port.on('message', (message: ToShardWorker) => this.put(message));
    // The main thread's end closed: treat as a stop (the node is going away).
    port.on('close', () => this.put({ type: 'stop' }));
  }

  private put(message: ToShardWorker): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) return waiting(message);
    // A stop overtakes the batches queued behind the one being applied: they were never committed
    // nor acked, so the next owner gets them from the stream (a handoff pauses for one batch, not four).
    if (message.type === 'stop')
      this.queue.splice(0, this.queue.length, ...this.queue.filter((m) => m.type !== 'batch'));
    this.queue.push(message);
  }

  /**
   * The next message, after one turn of the event loop: messages posted while the worker was busy
   * (applying a batch) are then in the queue, so a 'stop' among them overtakes the batches before it.
   */
  async next(): Promise<ToShardWorker> {
    await new Promise(setImmediate);
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    return new Promise((resolve) => (this.waiting = resolve));
  }
}
