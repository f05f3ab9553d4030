/**
 * A run given workers started early (the CLI starts them before the run's other modules load, when
 * there is no journal): processFile uses them, and closes them on every path, failures included —
 * a pool left open would keep the process alive after its last line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: compiled output, typed by its source (the workers load dist/pool/worker.js)
import { processFile as processFileBuilt } from '../../dist/pipeline/process-file.js';
// @ts-expect-error: compiled output, typed by its source
import { ShardPool as ShardPoolBuilt } from '../../dist/pool/shard-pool.js';
import type { processFile as ProcessFile } from '../../src/pipeline/process-file.js';
import type { ShardPool as ShardPoolType } from '../../src/pool/shard-pool.js';

const processFile = processFileBuilt as typeof ProcessFile;
const ShardPool = ShardPoolBuilt as typeof ShardPoolType;
const silent = { level: 'silent', pretty: false } as const;

const dir = mkdtempSync(join(tmpdir(), 'payments-started-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const input = join(dir, 'in.csv');
writeFileSync(input, 'type,client,tx,amount\ndeposit,1,1,2.5\ndeposit,2,2,1\nwithdrawal,1,3,1\ndispute,2,2,\n');

/** The Piscina pools behind a ShardPool have no thread left once it is closed. */
const threadsLeft = (pool: ShardPoolType): number =>
  (pool as unknown as { pools: { threads: unknown[] }[] }).pools.reduce((n, p) => n + p.threads.length, 0);

describe('processFile with workers started early', () => {
  it('uses them: the same accounts as a run that starts its own, and closes them', async () => {
    const own = await processFile({ input, workers: 2 });
    const pool = new ShardPool(2, silent, undefined);
    const started = await processFile({ input, workers: 2, pool });
    expect(started.accountsCsv).toBe(own.accountsCsv);
    expect(started.accountsCsv).toBe(
      'client,available,held,total,locked\n1,1.5000,0.0000,1.5000,false\n2,0.0000,1.0000,1.0000,false\n',
    );
    expect(threadsLeft(pool)).toBe(0);
  });

  it('closes them when the input cannot be opened', async () => {
    const pool = new ShardPool(2, silent, undefined);
    await expect(processFile({ input: join(dir, 'missing.csv'), workers: 2, pool })).rejects.toThrow(/no such file/);
    expect(threadsLeft(pool)).toBe(0);
  });

  it('refuses workers started for another shard count, and closes them', async () => {
    const pool = new ShardPool(2, silent, undefined);
    await expect(processFile({ input, workers: 3, pool })).rejects.toThrow(/invariant: a started pool/);
    expect(threadsLeft(pool)).toBe(0);
    await pool.close(); // closing again is the same close
  });
});
