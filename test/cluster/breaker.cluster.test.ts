/**
 * The node's circuit breakers against real servers going away: PostgreSQL halted (its control
 * ticks fail) and NATS killed (ticks pass with its connection down) each open their
 * breaker after failures in a row: the node says not ready on /readyz, claims nothing, and shows
 * the breaker on /metrics; once the server is back the breaker closes and the node is ready again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error an .mjs script without types
import { haltNats, startNats } from '../../scripts/test-nats.mjs';
import {
  freePort,
  haltPostgres,
  logLines,
  resumePostgres,
  startNode,
  startWorld,
  stopWorld,
  until,
  type ClusterNodeProcess,
  type World,
} from '../helpers/cluster.js';

describe('circuit breakers of a node', { timeout: 180_000 }, () => {
  let world: World;
  let node: ClusterNodeProcess;
  let port: number;

  const breaker = async (server: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return new RegExp(`^payments_node_circuit_open\\{server="${server}"\\} (\\d)`, 'm').exec(text)?.[1];
  };
  const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;

  beforeAll(async () => {
    world = await startWorld();
    port = await freePort();
    // A short reconnection window, so a tick fails in a second rather than half a minute.
    const journal = `${world.journal}${world.journal.includes('?') ? '&' : '?'}retry_seconds=1`;
    node = startNode(world, 'brk', { extra: ['--http', String(port)], journal });
    await until(async () => (await readyz().catch(() => 0)) === 200);
  });
  afterAll(() => stopWorld(world));

  it('PostgreSQL down: the breaker opens (not ready), and closes once it is back', async () => {
    expect(await breaker('postgres')).toBe('0');
    haltPostgres(world);
    try {
      await until(async () => (await breaker('postgres')) === '1');
      expect(await readyz()).toBe(503);
      expect(
        logLines(node).some(
          (l) => l.msg === 'postgres: circuit open after 3 failures in a row; not ready, claiming nothing',
        ),
      ).toBe(true);
    } finally {
      resumePostgres(world);
    }
    await until(async () => (await breaker('postgres')) === '0');
    await until(async () => (await readyz()) === 200);
  });

  it('NATS killed: the breaker opens after ticks spent disconnected, and closes once it is back', async () => {
    expect(await breaker('nats')).toBe('0');
    await haltNats(world.nats, 'SIGKILL');
    try {
      await until(async () => (await breaker('nats')) === '1');
      expect(await readyz()).toBe(503);
    } finally {
      Object.assign(world.nats, await startNats({ ...world.nats, dir: world.nats.dir, port: world.nats.port }));
    }
    await until(async () => (await breaker('nats')) === '0');
    await until(async () => (await readyz()) === 200);
  });
});
