/**
 * One connection to the journal's server (node-postgres), with the two things a payments tool needs
 * from it: errors sorted into "the server went away, retry" and "this will never work, tell the
 * user" (exit 2), and a retry loop with exponential backoff and full jitter, bounded in time.
 */
import type { Socket } from 'node:net';
import pg from './pg.js';
import { retryPolicy } from '../../resilience.js';
import {
  connectTimeoutMs,
  pgCloseWaitMs,
  pgLockWaitSeconds,
  pgSilentMinMs,
  retryDelayFirstMs,
  retryDelayMaxMs,
} from '../../constants.js';
import { RunError, describeError, errorCode, runFailure, usageError } from '../../errors.js';
import { pgpassPassword } from './pgpass.js';
import type { PostgresTarget } from './url.js';

/** SQLSTATE classes and codes after which the same request on a new connection may succeed. */
const retryableSqlStates = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend, fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, in recovery)
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);
const retryableNodeCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Whether an error means the connection (or the server) was lost, so that a retry may succeed. */
function isConnectionLost(error: unknown): boolean {
  if (error instanceof RunError) return false;
  const code = errorCode(error);
  if (code !== undefined && (retryableSqlStates.has(code) || retryableNodeCodes.has(code))) return true;
  const message = describeError(error);
  return /Connection terminated|connection (?:closed|lost)|Client was closed|timeout expired|not queryable/i.test(
    message,
  );
}

/**
 * An error that no retry can fix, as the one line the user reads (exit 2), or undefined. The
 * messages name the redacted URL and the server's words, which never carry the password.
 */
function refusal(error: unknown, target: PostgresTarget): RunError | undefined {
  const code = errorCode(error);
  const said = describeError(error);
  const where = `journal ${target.display}`;
  switch (code) {
    case '28P01':
    case '28000':
      return usageError(
        `${where}: the server refused the login (${said}); check the user and password (URL, PGPASSWORD or ~/.pgpass)`,
      );
    case '42501':
      return usageError(
        `${where}: permission denied (${said}); a run's role needs CREATE on the database for its first run, then ownership of schema payments; replay, inspect and result need USAGE on schema payments and SELECT on its tables (docs/security.md, "PostgreSQL roles")`,
      );
    case '3D000':
      return usageError(`${where}: ${said}; create it first (createdb) or name another in the URL`);
    case 'ENOTFOUND':
      return usageError(`${where}: unknown host (${said})`);
    case 'ENOENT':
      return usageError(`${where}: ${said}`);
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return usageError(
        `${where}: the server's TLS certificate was not accepted (${said}); see sslmode and sslrootcert`,
      );
  }
  if (/does not support SSL|SSL off|no pg_hba\.conf entry/i.test(said)) return usageError(`${where}: ${said}`);
  // A setting in the URL's options the server does not know, or a value it refuses: no retry helps.
  if ((code === '42704' || code === '22023') && /configuration parameter|invalid value for parameter/i.test(said))
    return usageError(`${where}: the server refused a setting (${said}); check the URL's options`);
  return undefined;
}

function passwordFromFile(params: { host: string; port: number; database?: string; user?: string }): string {
  return (
    pgpassPassword({
      host: params.host,
      port: params.port,
      database: params.database ?? '',
      user: params.user ?? '',
    }) ?? ''
  );
}

async function connect(
  target: PostgresTarget,
  applicationName: string,
  connecting: (client: pg.Client | undefined) => void = () => undefined,
): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: target.connectionString,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: applicationName,
    // Without PGPASSWORD (a password in the URL wins anyway): the password file, as libpq reads it.
    ...(process.env.PGPASSWORD === undefined ? { password: passwordFromFile as () => string } : {}),
  });
  // An idle connection that dies reports here; the next query then fails and is retried.
  client.on('error', () => undefined);
  connecting(client);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  } finally {
    connecting(undefined);
  }
  return client;
}

/** The run stops: the server was lost (or never reached) for the whole retry bound. */
const serverLost = (message: string): RunError => Object.assign(runFailure(message), { serverLost: true });

/** Whether `error` says the server was lost for the whole retry bound (not a refusal, not a failed statement). */
export const isServerLost = (error: unknown): error is RunError =>
  error instanceof RunError && (error as { serverLost?: boolean }).serverLost === true;

/** The socket under a client (node-postgres keeps it as connection.stream). */
function socketOf(client: pg.Client | undefined): Socket | undefined {
  return (client as unknown as { connection?: { stream?: Socket } } | undefined)?.connection?.stream;
}

/**
 * Runs `op`, ending the connection if the server sends nothing for `silentMs` while it runs (a
 * server that stopped answering, a network dropping every packet: TCP alone would wait for ever).
 * The query then fails as a lost connection does, and is retried on a new one. Rows streaming
 * back, however long the whole takes, keep it alive.
 */
async function answered<T>(client: pg.Client, silentMs: number | undefined, op: () => Promise<T>): Promise<T> {
  const socket = socketOf(client);
  if (silentMs === undefined || socket === undefined || typeof socket.setTimeout !== 'function') return op();
  const silent = () =>
    socket.destroy(
      Object.assign(new Error(`the server sent nothing for ${silentMs / 1000} s while a query waited`), {
        code: 'ETIMEDOUT',
      }),
    );
  socket.on('timeout', silent);
  socket.setTimeout(silentMs);
  try {
    return await op();
  } finally {
    socket.setTimeout(0);
    socket.off('timeout', silent);
  }
}

/** Any other error, as one line naming the (redacted) journal, what it was doing and the SQLSTATE. */
function failure(error: unknown, target: PostgresTarget, what: string): unknown {
  if (error instanceof RunError || !(error instanceof Error)) return error;
  const code = errorCode(error);
  const wrapped = runFailure(`journal ${target.display}: ${what} failed: ${error.message}${code ? ` (${code})` : ''}`);
  wrapped.stack = error.stack;
  return wrapped;
}

/** A session's setup for readers: every transaction read-only, so that nothing is ever written. */
export const readOnly = (client: pg.Client): Promise<void> =>
  client.query('SET default_transaction_read_only = on').then(() => undefined);

/** A read-only session for reading a journal's partitions one after another (replay, inspect, outputs). */
export function readerSession(target: PostgresTarget): RetryingConnection {
  return new RetryingConnection(target, `payments ${target.journal} reader`, readOnly);
}

/**
 * Runs `op` on a connection, reconnecting after a lost connection with exponential backoff and full
 * jitter for up to target.retrySeconds; then the run stops (exit 1) with what to do. `op` must be
 * safe to run again after a failure whose outcome is unknown (it checks what was committed).
 */
export class RetryingConnection {
  private client: pg.Client | undefined;
  /** A client still connecting: abandon() ends it too. */
  private connecting: pg.Client | undefined;
  private abandoned = false;
  /** A session was ever opened: a server away from the start is "not reached", not "lost". */
  private reached = false;
  /**
   * When the server was first found lost, while it has not answered since: the retry bound is one
   * window for the whole outage, not a new one for every call made during it.
   */
  private lostSince: number | undefined;
  retries = 0;

  constructor(
    readonly target: PostgresTarget,
    private readonly applicationName: string,
    /** Runs on every new connection before `op` (session settings, advisory locks). */
    private readonly onConnect: (client: pg.Client) => Promise<void> = async () => undefined,
    private readonly onRetry: (attempt: number, delayMs: number, error: unknown) => void = () => undefined,
  ) {}

  /**
   * `patient`: the op may rightly be silent for long (a migration waiting for another's lock, a
   * conversion's scan): no watchdog on it. Any other op the server sends nothing back for during
   * the bound counts as a lost connection (answered()).
   */
  async run<T>(
    what: string,
    op: (client: pg.Client, attempt: number) => Promise<T>,
    options: { patient?: boolean } = {},
  ): Promise<T> {
    const deadlineMs = this.target.retrySeconds * 1000;
    const silentMs = Math.max(deadlineMs, pgSilentMinMs);
    // A lost connection is retried (full-jitter backoff) until the retry window, counted from when
    // the server was first found lost, has passed.
    const policy = retryPolicy({ firstMs: retryDelayFirstMs, maxMs: retryDelayMaxMs }, (error) => {
      const lost = !this.abandoned && isConnectionLost(error) && refusal(error, this.target) === undefined;
      if (!lost) return false;
      this.lostSince ??= Date.now();
      return Date.now() - this.lostSince < deadlineMs;
    });
    const retried = policy.onRetry(({ delay, attempt, ...reason }) => {
      this.retries++;
      this.onRetry(attempt, delay, 'error' in reason ? reason.error : undefined);
    });
    try {
      return await policy.execute(async ({ attempt }) => {
        try {
          if (this.abandoned) throw runFailure(`journal ${this.target.display}: ${what}: the session was abandoned`);
          if (this.client === undefined) {
            const client = await connect(this.target, this.applicationName, (c) => (this.connecting = c));
            try {
              if (this.abandoned)
                throw runFailure(`journal ${this.target.display}: ${what}: the session was abandoned`);
              // Its lock waits (run-lock.ts) are bounded by pgLockWaitSeconds: allowed on top.
              await answered(client, silentMs + pgLockWaitSeconds * 1000, () => this.onConnect(client));
            } catch (error) {
              await client.end().catch(() => undefined);
              throw error;
            }
            this.client = client;
            this.reached = true;
          }
          const result = await answered(this.client, options.patient ? undefined : silentMs, () =>
            op(this.client!, attempt),
          );
          this.lostSince = undefined; // the server answers again
          return result;
        } catch (error) {
          // The server answered, with an error: whatever outage there was is over.
          if (!isConnectionLost(error)) this.lostSince = undefined;
          // Whatever failed, the connection may be mid-transaction or mid-COPY: start the next use afresh.
          await this.drop();
          throw error;
        }
      });
    } catch (error) {
      if (this.abandoned) throw runFailure(`journal ${this.target.display}: ${what}: the session was abandoned`);
      const refused = refusal(error, this.target);
      if (refused) throw refused;
      if (!isConnectionLost(error)) throw failure(error, this.target, what);
      if (!this.reached)
        throw serverLost(
          `journal ${this.target.display}: could not reach the server within ${this.target.retrySeconds} s while ${what} ` +
            `(${describeError(error)}); run the same command again once the server is up ` +
            `(or wait longer with ?retry_seconds=N)`,
        );
      throw serverLost(
        `journal ${this.target.display}: lost the server while ${what} and could not reconnect within ${this.target.retrySeconds} s ` +
          `(${describeError(error)}); what was committed is safe: run the same command again once the server is back ` +
          `(or allow longer outages with ?retry_seconds=N)`,
      );
    } finally {
      retried.dispose();
    }
  }

  /**
   * Ends the session at once, whatever it is waiting for (its query fails, nothing is retried), and
   * refuses any later use: for a task its owner has given up on. The socket is destroyed rather
   * than closed politely: a server that no longer answers would never see the goodbye.
   */
  abandon(): void {
    this.abandoned = true;
    // The socket only, not end() as well: a client told to end before it has connected never
    // settles its connect(); a destroyed socket fails the connect, or the query under way.
    for (const client of [this.client, this.connecting]) {
      (
        client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined
      )?.connection?.stream?.destroy();
    }
    this.client = undefined;
  }

  /**
   * Closes the connection (an open transaction is rolled back by the server). A polite close waits
   * for the server to close its side; one that no longer answers never does, so after
   * pgCloseWaitMs the socket is destroyed instead.
   */
  async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      client.end().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), pgCloseWaitMs))),
    ]);
    clearTimeout(timer);
    if (!closed) socketOf(client)?.destroy();
  }
}
