/**
 * The cluster tests' world: a throw-away PostgreSQL (scripts/test-postgres.mjs) and nats-server
 * with JetStream (scripts/test-nats.mjs), node processes of the built CLI, and the single-process
 * run to compare with. No mocks: every node is `node dist/cli/bin.js node …`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { binPath, repoRoot, runCli, type CliResult } from './cli.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { startServer, stopServer, restartServer, haltServer, resumeServer } from '../../scripts/test-postgres.mjs';
// @ts-expect-error: a plain .mjs script without type declarations
import { startNats, stopNats, restartNats } from '../../scripts/test-nats.mjs';

export interface NatsState {
  url: string;
  port: number;
  dir: string;
  pid: number;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
}

export interface World {
  readonly dir: string;
  readonly pgState: { url: string; port: number; dir: string };
  readonly nats: NatsState;
  /** The journal URL of this world's database. */
  readonly journal: string;
  readonly nodes: ClusterNodeProcess[];
}

/** `tlsUser`: NATS over TLS with a password (`verify`: also a client certificate, mutual TLS); `host`: see below. */
export async function startWorld(
  options: {
    tlsUser?: { user: string; password: string };
    verify?: boolean;
    /** An address of this host for the servers to listen on too (NATS there alone): a network namespace's way in. */
    host?: string;
  } = {},
): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'payments-cluster-test-'));
  const pgState = await startServer(options.host ? { listen: [options.host] } : {});
  const { tlsUser, verify = false } = options;
  const nats = (await startNats({
    ...(tlsUser ? { tls: true, verify, user: tlsUser.user, password: tlsUser.password } : {}),
    ...(options.host ? { host: options.host } : {}),
  })) as NatsState;
  return { dir, pgState, nats, journal: pgState.url, nodes: [] };
}

export async function stopWorld(world: World | undefined): Promise<void> {
  if (world === undefined) return;
  for (const node of world.nodes) await node.kill('SIGKILL');
  // CLUSTER_TEST_LOGS=DIR keeps every node's log, for a failure to be read afterwards.
  const keep = process.env.CLUSTER_TEST_LOGS;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    for (const node of world.nodes) writeFileSync(join(keep, `${node.id}.log`), node.stderr);
  }
  await stopNats(world.nats);
  stopServer(world.pgState);
  rmSync(world.dir, { recursive: true, force: true });
}

export const restartPostgres = (world: World): void => restartServer(world.pgState);
export const restartNatsServer = (world: World, signal: NodeJS.Signals = 'SIGTERM'): Promise<NatsState> =>
  restartNats(world.nats, signal);
/** Stops PostgreSQL (fast shutdown) until resumePostgres: an outage as long as the test wants. */
export const haltPostgres = (world: World): void => haltServer(world.pgState);
export const resumePostgres = (world: World): void => resumeServer(world.pgState);

export class ClusterNodeProcess {
  readonly child: ChildProcess;
  stderr = '';
  exited: Promise<number | null>;

  constructor(
    readonly id: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    /** A command the node runs under (e.g. `ip netns exec NS`, which execs it: the pid is the node's). */
    wrap: string[] = [],
  ) {
    const command = [...wrap, process.execPath, binPath, 'node', '--node-id', id, ...args];
    this.child = spawn(command[0]!, command.slice(1), {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await this.exited;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

export function startNode(
  world: World,
  id: string,
  options: {
    leaseMs?: number;
    natsUrl?: string;
    journal?: string;
    extra?: string[];
    env?: NodeJS.ProcessEnv;
    wrap?: string[];
  } = {},
): ClusterNodeProcess {
  const node = new ClusterNodeProcess(
    id,
    [
      '--nats',
      options.natsUrl ?? world.nats.url,
      '--journal',
      options.journal ?? world.journal,
      '--lease-ms',
      String(options.leaseMs ?? 2000),
      ...(options.extra ?? []),
    ],
    options.env,
    options.wrap,
  );
  world.nodes.push(node);
  return node;
}

export function submit(world: World, args: string[], natsUrl = world.nats.url): Promise<CliResult> {
  return runCli(['submit', ...args, '--nats', natsUrl, '--journal', world.journal]);
}

export interface Expected {
  readonly input: string;
  readonly accounts: string;
  readonly rejects: string;
  /** Well-formed rows: each must be in the journal exactly once. */
  readonly wellFormed: number;
}

/** Generates an input with bad rows and runs it through the single-process engine. */
export async function expectedRun(world: World, name: string, rows: number, seed: number): Promise<Expected> {
  const input = join(world.dir, `${name}.csv`);
  const gen = await runCli([
    'generate',
    '-q',
    '-n',
    String(rows),
    '-c',
    '3000',
    '--bad-rate',
    '0.02',
    '--seed',
    String(seed),
    input,
  ]);
  if (gen.code !== 0) throw new Error(`generate failed: ${gen.stderr}`);
  const rejects = join(world.dir, `${name}.expected-rejects.csv`);
  const report = join(world.dir, `${name}.report.json`);
  const single = await runCli(['-q', input, '--rejects', rejects, '--report', report]);
  if (single.code !== 0) throw new Error(`single-process run failed: ${single.stderr}`);
  const r = JSON.parse(readFileSync(report, 'utf8')) as { rowsRead: number; rejectedByReason: Record<string, number> };
  const malformed = [
    'malformed_row',
    'unknown_type',
    'invalid_client',
    'invalid_tx',
    'missing_amount',
    'invalid_amount',
  ];
  const wellFormed = r.rowsRead - malformed.reduce((a, reason) => a + (r.rejectedByReason[reason] ?? 0), 0);
  return { input, accounts: single.stdout, rejects: readFileSync(rejects, 'utf8'), wellFormed };
}

export async function withDb<T>(world: World, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: world.journal });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Records in the run's journal and distinct lines among them (equal when nothing was applied twice). */
export async function journalCounts(world: World, run: string): Promise<{ records: number; lines: number }> {
  return withDb(world, async (c) => {
    const r = await c.query(
      'SELECT count(*)::int AS records, count(DISTINCT line)::int AS lines FROM payments.events WHERE journal = $1',
      [run],
    );
    return r.rows[0] as { records: number; lines: number };
  });
}

/** The leases of a run. */
export async function leases(
  world: World,
  run: string,
): Promise<{ shard: number; node: string | null; generation: number; finished: boolean }[]> {
  return withDb(world, async (c) => {
    const r = await c
      .query(
        'SELECT shard, node, generation::int AS generation, finished FROM payments_cluster.leases WHERE run = $1 ORDER BY shard',
        [run],
      )
      .catch(() => ({ rows: [] }));
    return r.rows;
  });
}

/** Batches committed for shards a node owns now (progress of that node on the run). */
export async function committedBy(world: World, run: string, node: string): Promise<number> {
  return withDb(world, async (c) => {
    const r = await c
      .query(
        `SELECT count(*)::int AS n FROM payments.batches b JOIN payments_cluster.leases l
          ON l.run = b.journal AND l.shard = b.partition WHERE b.journal = $1 AND l.node = $2 AND NOT l.finished`,
        [run, node],
      )
      .catch(() => ({ rows: [{ n: 0 }] }));
    return r.rows[0].n as number;
  });
}

/** Polls `condition` every 50 ms until it holds (no timing assertion: the test timeout bounds it). */
/**
 * Polls until the condition holds. With `within`, gives up after that many milliseconds with an
 * error naming `what`, so a stuck step fails by name instead of by the test's timeout.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  within?: { ms: number; what: string | (() => string) },
): Promise<void> {
  const giveUpAt = within === undefined ? Infinity : Date.now() + within.ms;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) {
      const what = typeof within!.what === 'function' ? within!.what() : within!.what;
      throw new Error(`waited ${within!.ms} ms for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the database's sessions are doing and waiting for (printed when a test is stuck). */
export async function sessions(world: World): Promise<string> {
  return withDb(world, async (c) => {
    const a = await c.query(
      `SELECT pid, application_name, state, wait_event, left(query, 60) AS query FROM pg_stat_activity WHERE application_name LIKE 'payments%'`,
    );
    const l = await c.query(
      `SELECT pid, locktype, relation::regclass::text AS rel, mode, granted FROM pg_locks WHERE locktype NOT IN ('virtualxid') AND pid <> pg_backend_pid()`,
    );
    return JSON.stringify({ activity: a.rows, locks: l.rows }, null, 1);
  });
}

/** A submit as a child process that a test may kill; `result` settles when it exits. */
export function spawnSubmit(
  world: World,
  args: string[],
): { child: ChildProcess; result: Promise<CliResult>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [binPath, 'submit', ...args, '--nats', world.nats.url, '--journal', world.journal],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const result = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, result, stderr: () => stderr };
}

/** Batches the run's journal holds (all partitions). */
export async function committedBatches(world: World, run: string): Promise<number> {
  return withDb(world, async (c) => {
    const r = await c
      .query('SELECT count(*)::int AS n FROM payments.batches WHERE journal = $1', [run])
      .catch(() => ({ rows: [{ n: 0 }] }));
    return r.rows[0].n as number;
  });
}

/** Shards a node runs (unfinished) that already committed batches, with their lease generation. */
export async function runningWithBatches(
  world: World,
  run: string,
  node: string,
): Promise<{ shard: number; generation: number }[]> {
  return withDb(world, async (c) => {
    const r = await c
      .query(
        `SELECT l.shard, l.generation::int AS generation FROM payments_cluster.leases l
          WHERE l.run = $1 AND l.node = $2 AND NOT l.finished
            AND EXISTS (SELECT 1 FROM payments.batches b WHERE b.journal = l.run AND b.partition = l.shard)`,
        [run, node],
      )
      .catch(() => ({ rows: [] }));
    return r.rows as { shard: number; generation: number }[];
  });
}

/**
 * Stops `node` (SIGSTOP) while it runs shards of `run` with batches committed, as seen after the
 * stop (call it while the run is being published: no shard finishes before its end marker, which
 * comes last, and nodes keep up with the publisher): a shard seen running just before may finish in between, and a finished lease stays with
 * its node, so that shard would never be taken over.
 */
export async function freezeMidRun(
  world: World,
  node: { id: string; signal(signal: NodeJS.Signals): void },
  run: string,
): Promise<{ shard: number; generation: number }[]> {
  for (;;) {
    await until(async () => {
      if ((await runningWithBatches(world, run, node.id)).length > 0) return true;
      const all = await leases(world, run);
      if (all.length > 0 && all.every((l) => l.finished))
        throw new Error(
          `run ${run} finished before node ${node.id} could be caught mid-run (start it while publishing): ${JSON.stringify(all)}`,
        );
      return false;
    });
    node.signal('SIGSTOP');
    const held = await runningWithBatches(world, run, node.id);
    if (held.length > 0) return held;
    node.signal('SIGCONT');
  }
}

/** A node's log as JSON objects (lines that are not JSON are skipped). */
export function logLines(node: { stderr: string }): Record<string, unknown>[] {
  return node.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

/** /metrics and /readyz of a node started with `--http 0` (its port is in the "node joined" line). */
export async function nodeHttp(node: { stderr: string }): Promise<{ metrics: string; ready: number }> {
  let port: number | undefined;
  await until(() => {
    port = logLines(node).find((l) => l.msg === 'node joined')?.http as number | undefined;
    return port !== undefined;
  });
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  return { metrics, ready };
}

/** A TCP port free on 127.0.0.1 now (a node's --http, a Prometheus). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `fn` while every commit of a batch waits: the test holds `LOCK TABLE payments.batches`
 * (the tables made first), released once `fn` is done, whatever it did.
 */
export async function withBatchesLocked<T>(world: World, fn: () => Promise<T>): Promise<T> {
  const migrated = await runCli(['migrate', '--journal', world.journal]);
  if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.stderr}`);
  const holder = new pg.Client({ connectionString: world.journal });
  holder.on('error', () => undefined);
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE payments.batches IN EXCLUSIVE MODE');
    const result = await fn();
    await holder.query('COMMIT');
    return result;
  } finally {
    await holder.end().catch(() => undefined);
  }
}
