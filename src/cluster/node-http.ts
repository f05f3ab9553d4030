/** A node's HTTP endpoints: /healthz (alive), /readyz (its status as JSON: 200 when ready, else 503), /metrics. */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { describeError, usageError } from '../errors.js';

/** What /readyz shows. */
export interface NodeStatus {
  readonly ready: boolean;
  readonly node: string;
  readonly nats: boolean;
  readonly postgres: boolean;
  readonly shards: readonly { run: string; shard: number; ready: boolean; thread: number | undefined }[];
}

/** Listens on `port` (all interfaces); a port that cannot be had is exit 2. */
export async function serveNodeHttp(port: number, status: () => NodeStatus, registry: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const now = status();
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
    server.once('error', (error) => reject(usageError(`--http ${port}: ${describeError(error)}`)));
    server.listen(port, '0.0.0.0', () => resolve());
  });
  return server;
}
