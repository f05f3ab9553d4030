/**
 * The test PostgreSQL server (started by the `postgres` project's global setup) as tests use it:
 * a fresh database per test file, URLs for it, an admin connection, and the faults a server has
 * (restart, backends terminated).
 */
import pg from 'pg';
import { inject } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { restartServer as restart } from '../../scripts/test-postgres.mjs';

export function testServer() {
  return inject('postgres');
}

/** The server URL with another database (and optionally other credentials and parameters). */
export function urlFor(
  database: string,
  options: { user?: string; password?: string; params?: Record<string, string> } = {},
): string {
  const url = new URL(testServer().url);
  url.pathname = `/${database}`;
  if (options.user !== undefined) url.username = options.user;
  if (options.password !== undefined) url.password = options.password;
  for (const [key, value] of Object.entries(options.params ?? {})) url.searchParams.set(key, value);
  return url.toString();
}

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor(database) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let counter = 0;
/** Creates an empty database for this test file; returns its name. */
export async function freshDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${process.pid}_${++counter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  return name;
}

/** Whether the server is ours to restart (not an external PAYMENTS_TEST_POSTGRES_URL). */
export function canRestart(): boolean {
  return testServer().server !== undefined;
}

export function restartServer(): void {
  const server = testServer().server;
  if (server === undefined) throw new Error('cannot restart an external server');
  restart(server);
}

/**
 * Terminates every backend of `database` whose application_name matches (LIKE pattern); returns
 * how many. Only that database's: test files run side by side on one server, and ending another
 * file's sessions released its partition locks mid-test (seen: a "partition in use" test failed).
 */
export async function terminateBackends(applicationLike: string, database: string): Promise<number> {
  return withAdmin(async (c) => {
    const r = await c.query(
      'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND datname = $2 AND pid <> pg_backend_pid()) t',
      [applicationLike, database],
    );
    return r.rows[0].n as number;
  });
}

/** Polls `condition` every 10 ms until it holds (no timing assertion: the test timeout bounds it). */
export async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 10));
}
