/**
 * The worker's task handler in-process (workerData mocked): batches out of order, and failures
 * that come back as data rather than thrown across the thread boundary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BatchBuilder, BufferPool } from '../../src/engine/batch.js';
import type { FailureData } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'payments-worker-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

vi.mock('node:worker_threads', async (original) => ({
  ...(await original<typeof import('node:worker_threads')>()),
  workerData: { shard: 0, shards: 1, log: { level: 'silent', pretty: false }, journalDir: join(dir, 'journal') },
}));

type Reply = { ok: true; value: unknown } | { ok: false; error: FailureData };
/** The reply inside Piscina.move()'s wrapper (apply replies transfer their buffer back). */
const unwrapMoved = (r: unknown): Reply =>
  ((r as Record<symbol, unknown>)[Piscina.valueSymbol as unknown as symbol] ?? r) as Reply;

function oneBatch(line: number) {
  const builder = new BatchBuilder(new BufferPool(4));
  builder.push(0, 1, line, 100, line);
  return builder.take();
}

describe('worker task handler', () => {
  it('replies to a batch out of order with a failure as data, and keeps going in order', async () => {
    const { default: handleTask } = await import('../../src/pool/worker.js');
    expect(((await handleTask({ op: 'open' })) as Reply).ok).toBe(true);
    const early = unwrapMoved(await handleTask({ op: 'apply', seq: 1, batch: oneBatch(2), proof: { end: 0, crc: 0 } }));
    expect(early.ok).toBe(false);
    if (early.ok) return;
    expect(early.error).toMatchObject({ kind: 'failure', exitCode: 1 });
    expect(early.error.message).toBe('shard 0: batch 1 arrived, expected 0');
    const inOrder = unwrapMoved(
      await handleTask({ op: 'apply', seq: 0, batch: oneBatch(2), proof: { end: 0, crc: 0 } }),
    );
    expect(inOrder.ok).toBe(true);
    const finished = (await handleTask({ op: 'finish', complete: true })) as Reply;
    expect(finished).toMatchObject({ ok: true, value: { rowsApplied: 1, eventsAppended: 1 } });
  });
});
