/**
 * Vitest global setup of the `postgres` project: a throw-away PostgreSQL 15 server for the run
 * (scripts/test-postgres.mjs), or the server PAYMENTS_TEST_POSTGRES_URL names. Tests get it through
 * inject('postgres') (see test/helpers/postgres.ts).
 */
import type { TestProject } from 'vitest/node';
// @ts-expect-error: a plain .mjs script without type declarations
import { startServer, stopServer } from '../../scripts/test-postgres.mjs';

export interface ProvidedPostgres {
  /** Superuser URL (with password) of the test server. */
  url: string;
  /** For restarts: the server's directories and binaries; undefined for an external server. */
  server: { dir: string; dataDir: string; port: number; bin: string; socketDir: string } | undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: ProvidedPostgres;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const external = process.env.PAYMENTS_TEST_POSTGRES_URL;
  if (external) {
    project.provide('postgres', { url: external, server: undefined });
    return () => undefined;
  }
  const state = await startServer({});
  project.provide('postgres', {
    url: state.url,
    server: { dir: state.dir, dataDir: state.dataDir, port: state.port, bin: state.bin, socketDir: state.socketDir },
  });
  return () => stopServer(state);
}
