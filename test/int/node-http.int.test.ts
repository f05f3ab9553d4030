/** A node's HTTP endpoints (src/cluster/node-http.ts): health from the last tick's age, a bearer token, a bind address. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { serveNodeHttp } from '../../src/cluster/node-http.js';

describe('a node’s HTTP endpoints', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  const serve = async (health: { ok: boolean; tickAgeMs: number }, token?: string) => {
    server = await serveNodeHttp(
      { port: 0, host: '127.0.0.1', token },
      {
        status: () => ({ ready: true, node: 'n', nats: true, postgres: true, shards: [] }),
        health: () => health,
        registry: new Registry(),
      },
    );
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it('/healthz answers 503 with the age of the last successful tick once ticks fail', async () => {
    const url = await serve({ ok: false, tickAgeMs: 12_345 });
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('last successful tick 12.3 s ago\n');
  });

  it('/healthz answers 200 while ticks succeed; a token guards /readyz and /metrics only', async () => {
    const url = await serve({ ok: true, tickAgeMs: 200 }, 'tok');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer tok2' } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    expect((await fetch(`${url}/readyz`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
  });

  it('an address that cannot be had is a usage error (exit 2)', async () => {
    await expect(
      serveNodeHttp(
        { port: 0, host: '203.0.113.1' },
        { status: () => ({}) as never, health: () => ({ ok: true, tickAgeMs: 0 }), registry: new Registry() },
      ),
    ).rejects.toMatchObject({ exitCode: 2 });
  });
});
