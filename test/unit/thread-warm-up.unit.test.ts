/** A ready shard thread's warm-up (src/cluster/thread-warm-up.ts): it runs the paths a shard runs. */
import { describe, expect, it } from 'vitest';
import { warmUpBatchRows, warmUpBatches, warmUpShardThread } from '../../src/cluster/thread-warm-up.js';

describe('the shard thread warm-up', () => {
  it('applies its rows, rejects some, and recovers an engine from its snapshot with the same state', async () => {
    const run = await warmUpShardThread();
    expect(run.rows).toBe(warmUpBatches * warmUpBatchRows);
    // Overdrafts, unknown or foreign disputes, locked accounts: the rejection paths run too.
    expect(run.rejected).toBeGreaterThan(run.rows / 20);
    expect(run.rejected).toBeLessThan(run.rows / 2);
    expect(run.accounts).toBe(500);
    expect(run.txs).toBeGreaterThan(run.rows / 2);
    expect(run.recoveredAccounts).toBe(run.accounts);
    expect(run.recoveredTxs).toBe(run.txs);
  });

  it('is deterministic (no clock, no random source)', async () => {
    expect(await warmUpShardThread()).toEqual(await warmUpShardThread());
  });
});
