/**
 * Early takeover, directly on the control plane (real PostgreSQL, no NATS): a lease whose owner's
 * sessions are gone may be claimed before it runs out, but not when the sessions are missing because
 * the server restarted (the guard in control.ts, goneNodesSql).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterControl } from '../../src/cluster/control.js';
import { goneAfterMs } from '../../src/constants.js';
import { fencedJournalUrl } from '../../src/cluster/schema.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { startServer, stopServer, restartServer } from '../../scripts/test-postgres.mjs';

const leaseMs = 600_000; // never runs out here: every claim below is an early one, or none
const liveMs = 600_000;

describe('early takeover of a gone owner’s leases', () => {
  let server: { url: string };
  const controls: ClusterControl[] = [];
  const target = () => parsePostgresUrl(fencedJournalUrl(server.url, 'e1', undefined));
  /** A node's control plane, as `payments node` names its connection. */
  const nodeControl = (id: string) => {
    const control = new ClusterControl(target(), `payments node ${id}`);
    controls.push(control);
    return control;
  };

  beforeAll(async () => {
    server = await startServer({});
    const setup = new ClusterControl(target(), 'takeover test');
    await setup.setup();
    const store = new PostgresJournalStore(target());
    await store.openRun({ name: 'in.csv', size: 1, headCrc: 0, tailCrc: 0 }, 4);
    await store.close();
    await setup.addRun('e1', 4);
    await setup.adoptStream('e1', '2026-01-01T00:00:00Z');
    await setup.close();
  });
  afterAll(async () => {
    for (const control of controls) await control.close().catch(() => undefined);
    if (server) stopServer(server);
  });

  const lease = async (control: ClusterControl, shard: number) =>
    control.connection.run('read', async (c) => {
      const r = await c.query(
        `SELECT node, generation::int AS generation, claimed_at, expires_at
           FROM payments_cluster.leases WHERE run = 'e1' AND shard = $1`,
        [shard],
      );
      return r.rows[0] as { node: string; generation: number; claimed_at: Date; expires_at: Date };
    });

  it('takes a live lease at once when its owner’s session ended, never while the owner is connected', async () => {
    const b = nodeControl('B');
    await b.heartbeat('B', liveMs); // B's session begins before A's heartbeat
    const a = nodeControl('A');
    await a.heartbeat('A', liveMs);
    for (let i = 0; i < 4; i++) expect(await a.claim('A', leaseMs)).toMatchObject({ run: 'e1', shard: i });
    expect(await b.claim('B', leaseMs)).toBeUndefined(); // A is connected: its leases hold
    const seen = await b.heartbeat('B', liveMs);
    expect(seen.liveNodes).toBe(2);

    const before = await lease(b, 0);
    await a.close(); // as a SIGKILL does: its sessions end
    expect(await b.claim('B', leaseMs)).toBeUndefined(); // its heartbeat is younger than goneAfterMs
    await pastGoneAfter();
    const taken = await b.claim('B', leaseMs);
    expect(taken).toMatchObject({ shard: 0, generation: before.generation + 1, previousOwner: 'A', early: true });
    const after = await lease(b, 0);
    expect(after.node).toBe('B');
    // Both times are the database's: claimed long before A's lease would have run out.
    expect(after.claimed_at.getTime()).toBeLessThan(before.expires_at.getTime() - leaseMs / 2);
    // A gone node is not live either: B's fair share is every shard.
    expect((await b.heartbeat('B', liveMs)).liveNodes).toBe(1);
    for (let i = 1; i < 4; i++) expect(await b.claim('B', leaseMs)).toMatchObject({ shard: i, early: true });
  });

  it('after a server restart, nothing is taken early until the owner has had the chance to reconnect', async () => {
    const c = nodeControl('C');
    const d = nodeControl('D');
    await d.heartbeat('D', liveMs);
    await c.heartbeat('C', liveMs);
    // C takes every shard from B, B having heartbeated after C connected, then gone.
    const [b, a] = controls;
    await b!.heartbeat('B', liveMs);
    await b!.close();
    await a!.close();
    await pastGoneAfter();
    for (let i = 0; i < 4; i++) expect(await c.claim('C', leaseMs)).toMatchObject({ shard: i, previousOwner: 'B' });
    await d.heartbeat('D', liveMs);

    restartServer(server); // every session ends: C's and D's
    // D reconnects first and sees no session of C: C's last heartbeat is older than D's session,
    // so C may only be slow to reconnect, not gone. Nothing changes hands.
    expect(await d.claim('D', leaseMs)).toBeUndefined();
    await d.heartbeat('D', liveMs);
    // C reconnects (its next tick): still nothing for D.
    await c.heartbeat('C', liveMs);
    expect(await d.claim('D', leaseMs)).toBeUndefined();
    // Now C dies: it heartbeated on the restarted server, and its session is gone.
    await c.close();
    await pastGoneAfter();
    expect(await d.claim('D', leaseMs)).toMatchObject({ shard: 0, previousOwner: 'C', early: true });
  });

  it('a claimer whose session began after the owner’s last heartbeat waits for the lease', async () => {
    const [, , , d] = controls;
    const e = nodeControl('E');
    await e.heartbeat('E', liveMs);
    await d!.heartbeat('D', liveMs); // D holds shard 0 (the previous test)
    await d!.close();
    const g = nodeControl('G'); // connected after D's last heartbeat: cannot tell a restart from a death
    await g.heartbeat('G', liveMs);
    expect(await g.claim('G', leaseMs)).toBeUndefined();
    await pastGoneAfter();
    expect(await g.claim('G', leaseMs)).toBeUndefined();
    expect(await e.claim('E', leaseMs)).toMatchObject({ shard: 0, previousOwner: 'D', early: true });
  });
});

/** A node without a session counts as gone once its last heartbeat is goneAfterMs old. */
function pastGoneAfter(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, goneAfterMs + 100));
}
