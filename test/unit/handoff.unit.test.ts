/** A shard's handoff pause: the worker's inbox (src/cluster/shard-inbox.ts) and the node's wakeable tick (node-handoff.ts). */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Inbox } from '../../src/cluster/shard-inbox.js';
import { TickTimer } from '../../src/cluster/node-handoff.js';
import type { ToShardWorker } from '../../src/cluster/shard-protocol.js';

const batch = (seq: number): ToShardWorker => ({ type: 'batch', seq, count: 0, buffer: new ArrayBuffer(8) });

/** Posts `messages`, then waits until the inbox has them all queued (a port delivers on a later turn). */
async function filled(messages: ToShardWorker[]) {
  const { port1, port2 } = new MessageChannel();
  const inbox = new Inbox(port2);
  for (const m of messages) port1.postMessage(m);
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { inbox, port1, port2 };
}

describe('the shard worker’s inbox', () => {
  it('hands batches out in the order they were sent', async () => {
    const { inbox, port1, port2 } = await filled([batch(1), batch(2), batch(3)]);
    const seqs = [];
    for (let i = 0; i < 3; i++) {
      const m = await inbox.next();
      seqs.push(m.type === 'batch' ? m.seq : -1);
    }
    expect(seqs).toEqual([1, 2, 3]);
    port1.close();
    port2.close();
  });

  it('lets a stop overtake the batches still queued (never applied, never acked: redelivered to the next owner)', async () => {
    const { inbox, port1, port2 } = await filled([batch(1), batch(2), batch(3), { type: 'stop', handoff: true }]);
    expect(await inbox.next()).toEqual({ type: 'stop', handoff: true });
    port1.close();
    port2.close();
  });

  it('lets a stop overtake a batch posted while the worker was busy and asked for the next at once', async () => {
    // The worker applies a batch (its event loop busy) while the next batch and the stop are
    // posted; then it asks for the next message in the same turn. The stop still comes first.
    const { port1, port2 } = new MessageChannel();
    const inbox = new Inbox(port2);
    port1.postMessage(batch(2));
    port1.postMessage({ type: 'stop', handoff: true });
    expect(await inbox.next()).toEqual({ type: 'stop', handoff: true });
    port1.close();
    port2.close();
  });

  it('keeps an end queued before a stop (the final snapshot is not skipped)', async () => {
    const { inbox, port1, port2 } = await filled([{ type: 'end' }, { type: 'stop' }]);
    expect((await inbox.next()).type).toBe('end');
    expect((await inbox.next()).type).toBe('stop');
    port1.close();
    port2.close();
  });

  it('reads the port closing as a stop', async () => {
    const { inbox, port1, port2 } = await filled([]);
    const next = inbox.next();
    port1.close();
    expect(await next).toEqual({ type: 'stop' });
    port2.close();
  });
});

describe('the node’s tick timer', () => {
  const never = new AbortController().signal;

  it('sleeps its time when nothing wakes it', async () => {
    const timer = new TickTimer();
    let done = false;
    const sleeping = timer.sleep(60_000, AbortSignal.timeout(100)).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    await sleeping;
  });

  it('ends a sleep at once when woken (a lease was released: claim it now)', async () => {
    const timer = new TickTimer();
    const sleeping = timer.sleep(60_000, never);
    timer.wake();
    await sleeping; // would take a minute otherwise (the test's timeout fails it)
  });

  it('remembers a wake during the tick: the next sleep returns at once, the one after sleeps again', async () => {
    const timer = new TickTimer();
    timer.wake();
    await timer.sleep(60_000, never);
    let done = false;
    const sleeping = timer.sleep(60_000, AbortSignal.timeout(100)).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    await sleeping;
  });
});
