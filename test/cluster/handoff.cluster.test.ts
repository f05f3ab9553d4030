/**
 * Handoff: a node stopped with SIGTERM finishes the batch in flight, writes a final snapshot of
 * each shard it owns, and gives the leases back; the next owner claims at once and recovers from
 * that snapshot without replaying a record. A rolling restart of every node during a run prints
 * the single run's bytes.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedRun,
  leases,
  logLines,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

/** The 'shard claimed and recovered' lines of a node for a run. */
const claims = (node: { stderr: string }, run: string) =>
  logLines(node).filter((l) => l.msg === 'shard claimed and recovered' && l.run === run);

describe('handoff on SIGTERM', { timeout: 240_000 }, () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  it('the stopping node snapshots and gives the shard back; its successor replays nothing', async () => {
    const expected = await expectedRun(world, 'ho', 200_000, 31);
    // The journal's tables exist before any node runs: a run published with no node yet.
    const warm = await expectedRun(world, 'ho-warm', 1000, 30);
    expect((await submit(world, [warm.input, '--run', 'ho-warm', '--detach'])).code).toBe(0);
    const nodes = [startNode(world, 'ho-a'), startNode(world, 'ho-b')];
    await until(async () => (await leases(world, 'ho-warm')).every((l) => l.finished));
    // The owner's first commit of the run is held, so the SIGTERM surely lands mid-run; let go once signalled.
    const holder = new pg.Client({ connectionString: world.journal });
    await holder.connect();
    let sigtermAt: number;
    let ownerId: string;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
      // One shard: one node takes it (the other has nothing to rebalance) and waits on the lock.
      expect((await submit(world, [expected.input, '--run', 'ho', '--shards', '1', '--detach'])).code).toBe(0);
      await until(async () =>
        withDb(world, async (c) => {
          const r = await c.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> $1`, [
            (holder as unknown as { processID: number }).processID,
          ]);
          return r.rowCount! > 0;
        }),
      );
      ownerId = await withDb(world, async (c) => {
        const r = await c.query(`SELECT node FROM payments_cluster.leases WHERE run = 'ho'`);
        return r.rows[0].node as string;
      });
      sigtermAt = Date.now();
      nodes.find((n) => n.id === ownerId)!.child.kill('SIGTERM');
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    const owner = nodes.find((n) => n.id === ownerId!)!;
    const b = nodes.find((n) => n !== owner)!;
    expect(await owner.exited).toBe(0);
    expect(
      logLines(owner).some((l) => l.msg === 'shard handed off (snapshot written)'),
      owner.stderr.slice(-3000),
    ).toBe(true);
    await until(() => claims(b, 'ho').length > 0);
    const [claim] = claims(b, 'ho');
    expect(claim!.recordsReplayed).toBe(0);
    expect(claim!.resumeLine).toBeGreaterThan(0);
    // The pause, for the record (a benchmark measures it: bench/handoff.mjs): SIGTERM to b's first commit.
    let firstCommit = 0;
    await until(async () => {
      firstCommit = await withDb(world, async (c) => {
        const r = await c.query(
          `SELECT extract(epoch FROM min(committed_at)) * 1000 AS ms FROM payments.batches WHERE journal = 'ho' AND first_line > $1`,
          [claim!.resumeLine],
        );
        return Number(r.rows[0].ms);
      });
      return firstCommit > 0;
    });
    expect(firstCommit).toBeGreaterThan(sigtermAt!);
    console.log(`handoff pause (SIGTERM to the successor's first commit): ${Math.round(firstCommit - sigtermAt!)} ms`);
    const got = await submit(world, [expected.input, '--run', 'ho']);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
  });

  it('a rolling restart of every node during a run prints the single run’s bytes', async () => {
    const expected = await expectedRun(world, 'roll', 400_000, 32);
    for (const node of world.nodes) await node.kill('SIGTERM');
    expect((await submit(world, [expected.input, '--run', 'roll', '--shards', '6', '--detach'])).code).toBe(0);
    // Each node is stopped while a commit of one of its shards waits on the held batch table, so
    // the stop lands mid-run however fast the machine applies the run (the first turn must hand off).
    const holder = new pg.Client({ connectionString: world.journal });
    await holder.connect();
    const holderPid = (holder as unknown as { processID: number }).processID;
    /**
     * Whether `node` owns an unfinished shard of the run, and whether it has recovered one whose
     * commit waits on the lock (a session of the shard's name may also be an earlier owner's, left
     * waiting after it let go: the shard's new owner is then still recovering it, not applying).
     */
    const state = async (node: { id: string; stderr: string }) => {
      const owned = await withDb(world, async (c) => {
        const r = await c.query(
          `SELECT l.shard, l.generation::int AS generation,
                  EXISTS (SELECT 1 FROM pg_stat_activity a
                           WHERE a.wait_event_type = 'Lock' AND a.pid <> $2
                             AND a.application_name = 'payments roll shard ' || l.shard) AS blocked
             FROM payments_cluster.leases l WHERE l.run = 'roll' AND l.node = $1 AND NOT l.finished`,
          [node.id, holderPid],
        );
        return r.rows as { shard: number; generation: number; blocked: boolean }[];
      });
      const recovered = claims(node, 'roll');
      return {
        owns: owned.length > 0,
        blocked: owned.some(
          (o) => o.blocked && recovered.some((l) => l.shard === o.shard && l.generation === o.generation),
        ),
      };
    };
    let nodes = ['r1', 'r2', 'r3'].map((id) => startNode(world, id));
    let next = 4;
    let handedOff = 0;
    try {
      for (let turn = 0; turn < 3; turn++) {
        const [old, ...rest] = nodes;
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
        // The first turn waits for a blocked commit of r1; a later node may have nothing left to own.
        await until(
          async () => {
            const s = await state(old!);
            return s.blocked || (turn > 0 && !s.owns);
          },
          { ms: 60_000, what: () => `a commit of ${old!.id} waiting on the batch table` },
        );
        old!.signal('SIGTERM');
        await holder.query('COMMIT');
        expect(await old!.exited).toBe(0);
        handedOff += logLines(old!).filter((l) => l.msg === 'shard handed off (snapshot written)').length;
        nodes = [...rest, startNode(world, `r${next++}`)];
      }
    } finally {
      await holder.end();
    }
    console.log(`shards handed off over the three stops: ${handedOff}`);
    const got = await submit(world, [expected.input, '--run', 'roll']);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(expected.accounts);
    expect(handedOff).toBeGreaterThan(0);
  });
});
