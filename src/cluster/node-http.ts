/**
 * A node's HTTP endpoints: /healthz (200 while a control tick succeeded lately, else 503 with the
 * age of the last one), /readyz (its status as JSON: 200 when ready, else 503), /metrics. With a
 * token, /readyz and /metrics want `Authorization: Bearer <token>` (401 otherwise); /healthz tells
 * nothing but alive or not, and stays open for probes.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { describeError, usageError } from '../errors.js';
import type { ShardRunner } from './shard-runner.js';
import { stateOf } from './shard-status.js';

/** What /readyz shows. */
export interface NodeStatus {
  readonly ready: boolean;
  readonly node: string;
  readonly nats: boolean;
  readonly postgres: boolean;
  readonly shards: readonly {
    run: string;
    shard: number;
    ready: boolean;
    state: string;
    thread: number | undefined;
  }[];
}

/** Each shard's line of /readyz. */
export function shardStatuses(runners: Iterable<ShardRunner>): NodeStatus['shards'] {
  return [...runners].map((r) => ({
    run: r.claim.run,
    shard: r.claim.shard,
    ready: r.ready,
    state: stateOf(r.status),
    thread: r.threadId,
  }));
}

export interface HttpSettings {
  readonly port: number;
  /** The address to listen on (`--http-bind`). */
  readonly host: string;
  /** The bearer token /readyz and /metrics want (read from `--http-token-file`), if any. */
  readonly token?: string;
}

export interface NodeEndpoints {
  status(): NodeStatus;
  health(): { ok: boolean; tickAgeMs: number };
  readonly registry: Registry;
}

/** Compared as digests, in constant time (a token's length is not told by timing either). */
function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** Listens on `host:port`; an address or port that cannot be had is exit 2. */
export async function serveNodeHttp(settings: HttpSettings, endpoints: NodeEndpoints): Promise<Server> {
  const { registry } = endpoints;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const { ok, tickAgeMs } = endpoints.health();
      const said = `last successful tick ${(tickAgeMs / 1000).toFixed(1)} s ago\n`;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? `ok: ${said}` : said);
    } else if ((path === '/readyz' || path === '/metrics') && !authorized(req, settings.token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('unauthorized\n');
    } else if (path === '/readyz') {
      const now = endpoints.status();
      res.writeHead(now.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(now) + '\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(`${describeError(error)}\n`),
      );
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(usageError(`--http ${settings.port} --http-bind ${settings.host}: ${describeError(error)}`)),
    );
    server.listen(settings.port, settings.host, () => resolve());
  });
  return server;
}
