/**
 * A node's shard threads (src/cluster/shard-threads.ts) on a real Piscina pool of the built shard
 * worker: the threads start with the pool, and more shards than threads run at once on them.
 */
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { shardThreadsMax } from '../../src/constants.js';
import { defaultShardThreads, shardThreadPool } from '../../src/cluster/shard-threads.js';
import type { ShardTask } from '../../src/cluster/shard-protocol.js';

const worker = fileURLToPath(new URL('../../dist/cluster/shard-worker.js', import.meta.url));

async function until(test: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (test()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('shard threads', () => {
  it('default to one a core, within 1 and the most a node may have', () => {
    expect(defaultShardThreads(1)).toBe(1);
    expect(defaultShardThreads(2)).toBe(2);
    expect(defaultShardThreads(16)).toBe(16);
    expect(defaultShardThreads(500)).toBe(shardThreadsMax);
  });

  it('start with the pool, run five shards at once on two threads, and end a task once its port closes', async () => {
    // A "server" that accepts and never answers: each shard's recovery waits on its session there.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const pool = shardThreadPool(2, worker);
    const tasks: Promise<unknown>[] = [];
    const ports: MessagePort[] = [];
    try {
      await until(() => pool.threads.length === 2, 'the two threads to start');
      for (let shard = 0; shard < 5; shard++) {
        const channel = new MessageChannel();
        const task: ShardTask = {
          port: channel.port2,
          run: 'r',
          shard,
          shards: 5,
          journalUrl: `postgres://payments@127.0.0.1:${port}/payments?journal=r`,
          keys: [],
          log: { level: 'silent', pretty: false },
          bindings: {},
        };
        tasks.push(pool.run(task, { transferList: [channel.port2] }).catch((error: unknown) => error));
        ports.push(channel.port1);
      }
      // Every shard opened its session while the others wait on theirs: five tasks under way at once.
      await until(() => sockets.length === 5, 'five journal sessions');
      expect(pool.threads.length).toBe(2);
      // Its runner gives up (closes the port): the session it waits on ends, and the task returns
      // at once with a failure, long before the 10 s connect timeout, freeing its thread's share.
      const started = Date.now();
      for (const port of ports) port.close();
      const replies = (await Promise.all(tasks)) as { ok: boolean; error?: { message: string } }[];
      expect(Date.now() - started).toBeLessThan(5000);
      for (const reply of replies) {
        expect(reply.ok).toBe(false);
        expect(reply.error?.message).toMatch(/the session was abandoned/);
      }
    } finally {
      await pool.destroy();
      for (const socket of sockets) socket.destroy();
      server.close();
      await Promise.all(tasks);
    }
  });
});
