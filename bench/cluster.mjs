#!/usr/bin/env node
// Cluster benchmark: throughput of `payments submit` end to end with 1, 2 and 3 nodes,
// and the time from a node's SIGKILL to its shards applying batches again. Starts its own
// PostgreSQL (scripts/test-postgres.mjs, fsync off unless --fsync) and nats-server
// (scripts/test-nats.mjs, file storage). Usage:
//   npm run build && node bench/cluster.mjs [--rows 3750000] [--clients 10000] [--nodes 1,2,3] [--fsync]
//     [--lease-ms 3000] [--skip-publish] [--skip-takeover] [--repeat N] [--runs N] [--input FILE]
//     [--cpu-prof DIR] [--stat-statements] [--signal SIGKILL|SIGTERM] [--sealed] [--node-threads N|split]
//   (--nodes 0: takeover only; --repeat: N takeovers; --runs: each measurement N times, medians
//   reported; --input: that CSV instead of the generated one; --cpu-prof: the submit's and the
//   nodes' V8 CPU profiles into DIR, one per thread, for bench/profile-top.mjs; --stat-statements:
//   the statements that took the server longest, per measured submit; --signal SIGTERM: the takeover
//   is a handoff, and its first-batch time is the shard's pause; --sealed: every run sealed with a
//   random key, --journal-key-file to submit and nodes, so plain and sealed CPU can be compared;
//   --node-threads: each node's shard threads (node --threads), or split: the machine's cores
//   shared out among the nodes running at once, as nodes sized to their share of one machine;
//   unset: the node's default, a thread per core)
// Besides wall times it reports CPU seconds per million rows of every process of a submit's run:
// submit, each node, nats-server, and the PostgreSQL server (postmaster, its backends and the
// children it reaped, by pid: other servers on the machine are not counted).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startServer, stopServer } from '../scripts/test-postgres.mjs';
import { cpuOf, postgresCpu } from './proc-cpu.mjs';
import { startNats, stopNats } from '../scripts/test-nats.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '3750000' },
    clients: { type: 'string', default: '10000' },
    nodes: { type: 'string', default: '1,2,3' },
    shards: { type: 'string', default: '8' },
    fsync: { type: 'boolean', default: false },
    takeover: { type: 'boolean', default: true },
    'lease-ms': { type: 'string', default: '3000' },
    'skip-publish': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    'skip-takeover': { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    input: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'stat-statements': { type: 'boolean', default: false },
    signal: { type: 'string', default: 'SIGKILL' },
    sealed: { type: 'boolean', default: false },
    'node-threads': { type: 'string' },
  },
});
const dir = join(root, 'data/generated');
mkdirSync(dir, { recursive: true });
const input = values.input ?? join(dir, `tx-${values.rows}-c${values.clients}-s1.csv`);
const runs = Number(values.runs);
if (!['SIGKILL', 'SIGTERM'].includes(values.signal)) throw new Error('--signal takes SIGKILL or SIGTERM');
if (!(runs >= 1)) throw new Error('--runs takes a positive count');
const nodeThreads = values['node-threads'];
if (
  nodeThreads !== undefined &&
  nodeThreads !== 'split' &&
  !(Number.isInteger(Number(nodeThreads)) && Number(nodeThreads) >= 1)
)
  throw new Error('--node-threads takes a positive count or split');
const cpuOnExit = fileURLToPath(new URL('cpu-on-exit.mjs', import.meta.url));
const profiling = values['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']];
if (values.input === undefined && !existsSync(input)) {
  const g = spawnSync(
    process.execPath,
    [bin, 'generate', '-q', '-n', values.rows, '-c', values.clients, '--seed', '1', input],
    {
      stdio: 'inherit',
    },
  );
  if (g.status !== 0) process.exit(1);
}

// Data rows of the input: its lines but the header (a generated file ends with a line break).
const rows = Number(spawnSync('wc', ['-l', input], { encoding: 'utf8' }).stdout.trim().split(' ')[0]) - 1;

/** Runs the CLI; `cpu` is its CPU seconds (all threads), from the line cpu-on-exit.mjs writes. */
const run = (args, { profile = false } = {}) =>
  new Promise((resolve) => {
    const started = performance.now();
    const flags = ['--import', cpuOnExit, ...(profile ? profiling : [])];
    const child = spawn(process.execPath, [...flags, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const cpu = stderr.split('\n').find((l) => l.startsWith('{"benchCpuSeconds"'));
      resolve({ code, stdout, stderr, seconds, cpu: cpu ? JSON.parse(cpu).benchCpuSeconds : NaN });
    });
  });

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
};
const perMillion = (seconds) => ((seconds * 1e6) / rows).toFixed(2);

const logDir = mkdtempSync(join(tmpdir(), 'payments-bench-cluster-'));
console.log(`node logs: ${logDir}`);
const keyFile = join(logDir, 'journal.key');
if (values.sealed) writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
/** Given to nodes and submits: a sealed run's journal and messages need the key. */
const keyArgs = values.sealed ? ['--journal-key-file', keyFile] : [];
const pgState = await startServer({ fsync: values.fsync, statStatements: values['stat-statements'] });
// A NATS server that does not start (not installed) leaves no PostgreSQL server running behind it.
const nats = await startNats({}).catch((error) => {
  stopServer(pgState);
  throw error;
});
const db = new pg.Client({ connectionString: pgState.url });
/** Sessions the server has opened so far (every connection forks a backend: CPU of its own). */
const sessionCount = async () => {
  await db.query('SELECT pg_stat_force_next_flush()');
  return Number((await db.query('SELECT sum(sessions) AS n FROM pg_stat_database')).rows[0].n);
};
await db.connect();
if (values['stat-statements']) await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
/** node --threads for n nodes on this machine (none: the node's default). */
const threadArgs = (n) => {
  if (nodeThreads === undefined) return [];
  const threads = nodeThreads === 'split' ? Math.max(1, Math.floor(availableParallelism() / n)) : Number(nodeThreads);
  return ['--threads', String(threads)];
};
const startNodes = (n, tag) =>
  Array.from({ length: n }, (_, i) => {
    const log = openSync(join(logDir, `${tag}${i}.log`), 'w');
    return spawn(
      process.execPath,
      [
        ...profiling,
        bin,
        'node',
        '--nats',
        nats.url,
        '--journal',
        pgState.url,
        '--node-id',
        `${tag}${i}`,
        '--lease-ms',
        values['lease-ms'],
        ...keyArgs,
        ...threadArgs(n),
      ],
      {
        stdio: ['ignore', 'ignore', log],
      },
    );
  });
const stopNodes = async (nodes) => {
  for (const child of nodes) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/**
 * Waits until the nodes have started (modules loaded, shard threads warmed up: over 1 CPU-s each
 * on 2 cores), seen as their CPU falling to an idle node's few ms a second, so a measured run
 * counts a running node's work and not its start. At least 1.5 s, at most 15 s.
 */
const settled = async (nodes) => {
  await sleep(1500);
  let before = nodes.map((c) => cpuOf(c.pid));
  for (let waited = 0; waited < 13_500; waited += 300) {
    await sleep(300);
    const now = nodes.map((c) => cpuOf(c.pid));
    if (now.every((x, k) => x - before[k] < 0.03)) return;
    before = now;
  }
};

let single;
try {
  console.log(
    `input: ${input} (${rows} rows), server: PostgreSQL 15 fsync=${values.fsync ? 'on' : 'off'}, nats-server 2.9 file storage; nproc=${availableParallelism()}${nodeThreads === undefined ? '' : `, node threads ${nodeThreads}`}, load average ${loadavg()[0].toFixed(1)}`,
  );
  const singles = [];
  for (let i = 0; i < runs; i++) singles.push(await run(['-q', input]));
  single = singles[0];
  if (singles.some((s) => s.code !== 0 || s.stdout !== single.stdout)) throw new Error('single-process runs differ');
  const singleWall = median(singles.map((s) => s.seconds));
  console.log(
    `single process (default workers, in-memory): median ${singleWall.toFixed(2)} s of ${runs} (${singles.map((s) => s.seconds.toFixed(2)).join(', ')}), ` +
      `${Math.round(rows / singleWall)} rows/s, ${perMillion(median(singles.map((s) => s.cpu)))} CPU-s per M rows`,
  );

  const table = [];
  for (const n of values.nodes
    .split(',')
    .map(Number)
    .filter((n) => n > 0)) {
    const measured = [];
    for (let i = 0; i < runs; i++) {
      const nodes = startNodes(n, `b${n}-${i}-`);
      await settled(nodes);
      const nodesBefore = nodes.map((c) => cpuOf(c.pid));
      const [natsBefore, pgBefore] = [cpuOf(nats.pid), postgresCpu(pgState.dataDir)];
      const load = loadavg()[0].toFixed(1);
      if (values['stat-statements']) await db.query('SELECT pg_stat_statements_reset()');
      const sessionsBefore = await sessionCount();
      const r = await run(
        [
          'submit',
          ...keyArgs,
          input,
          '--run',
          `bench-${n}-${Date.now()}`,
          '--shards',
          values.shards,
          '--nats',
          nats.url,
          '--journal',
          pgState.url,
          '--log-level',
          'info',
        ],
        { profile: true },
      );
      const cpu = {
        submit: r.cpu,
        nodes: nodes.map((c, k) => cpuOf(c.pid) - nodesBefore[k]),
        nats: cpuOf(nats.pid) - natsBefore,
        postgres: postgresCpu(pgState.dataDir) - pgBefore,
      };
      const summary =
        r.stderr
          .trim()
          .split('\n')
          .map((l) => {
            try {
              return JSON.parse(l);
            } catch {
              return {};
            }
          })
          .find((l) => l.publishSeconds !== undefined) ?? {};
      const equal = r.stdout === single.stdout;
      console.log(
        `submit with ${n} node(s): exit ${r.code}, ${r.seconds.toFixed(2)} s end to end, ${Math.round(rows / r.seconds)} rows/s` +
          ` (publish done at ${summary.publishSeconds ?? '?'} s), load average ${load}, output ${equal ? 'equal to' : 'DIFFERENT from'} the single-process run;` +
          ` CPU s: submit ${cpu.submit.toFixed(2)}, nodes ${cpu.nodes.map((x) => x.toFixed(2)).join(' + ')}, nats-server ${cpu.nats.toFixed(2)}, postgres ${cpu.postgres.toFixed(2)}`,
      );
      if (r.code !== 0 || !equal) process.exitCode = 1;
      console.log(`  PostgreSQL sessions opened during the run: ${(await sessionCount()) - sessionsBefore}`);
      if (values['stat-statements']) {
        const top = await db.query(
          `SELECT calls, round(total_exec_time) AS ms, rows, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q
             FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12`,
        );
        for (const t of top.rows)
          console.log(
            `  ${t.ms} ms, ${t.calls} calls, ${t.rows} rows, WAL ${(Number(t.wal_bytes) / 1e6).toFixed(1)} MB: ${t.q}`,
          );
      }
      measured.push({ seconds: r.seconds, cpu });
      await stopNodes(nodes);
    }
    const at = (f) => median(measured.map((m) => f(m.cpu)));
    table.push({
      n,
      wall: median(measured.map((m) => m.seconds)),
      submit: at((c) => c.submit),
      nodes: Array.from({ length: n }, (_, k) => at((c) => c.nodes[k])),
      nats: at((c) => c.nats),
      postgres: at((c) => c.postgres),
    });
  }
  if (table.length > 0) {
    console.log(
      `\nCPU-seconds per million rows (medians of ${runs} run(s)); wall in seconds; single process ${singleWall.toFixed(2)} s`,
    );
    console.log('| nodes | wall | × single | submit | each node | nats-server | postgres | postgres / node |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const t of table) {
      const nodeSum = t.nodes.reduce((a, b) => a + b, 0);
      console.log(
        `| ${t.n} | ${t.wall.toFixed(2)} | ${(t.wall / singleWall).toFixed(1)} | ${perMillion(t.submit)} | ${t.nodes.map(perMillion).join(', ')} | ` +
          `${perMillion(t.nats)} | ${perMillion(t.postgres)} | ${((100 * t.postgres) / nodeSum).toFixed(0)} % |`,
      );
    }
  }
  if (!values['skip-takeover']) {
    const all = [];
    for (let round = 1; round <= Number(values.repeat); round++) all.push(...(await takeover(round)));
    const firsts = all.map((t) => t.first);
    console.log(
      `takeover summary (${values.signal}) over ${all.length} shard(s): first batch again after median ${median(firsts).toFixed(2)} s ` +
        `(min ${Math.min(...firsts).toFixed(2)}, max ${Math.max(...firsts).toFixed(2)}); claimed after median ` +
        `${median(all.map((t) => t.claimed)).toFixed(2)} s; recovery median ${median(all.map((t) => t.recovery)).toFixed(2)} s`,
    );
  }
  if (!values['skip-publish']) {
    // Last: its run is never finished, and nodes started after it would apply it beside the measured one.
    // The parser + NATS alone: a detached submit with no node running (publish, nothing applied).
    const publishOnly = await run([
      'submit',
      ...keyArgs,
      input,
      '--run',
      `bench-publish-${Date.now()}`,
      '--shards',
      values.shards,
      '--nats',
      nats.url,
      '--journal',
      pgState.url,
      '--detach',
    ]);
    const streamInfo = await (async () => {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: nats.url.replace('nats://', '') });
      const jsm = await jetstreamManager(nc);
      let bytes = 0;
      for await (const si of jsm.streams.list()) bytes = Math.max(bytes, si.state.bytes);
      await nc.close();
      return bytes;
    })();
    console.log(
      `submit --detach, no node (parse + route + publish to JetStream): exit ${publishOnly.code}, ${publishOnly.seconds.toFixed(1)} s, ${Math.round(rows / publishOnly.seconds)} rows/s, ${perMillion(publishOnly.cpu)} CPU-s per M rows, stream ${(streamInfo / 1e6).toFixed(0)} MB (${(streamInfo / 1e6 / publishOnly.seconds).toFixed(0)} MB/s)`,
    );
  }
} finally {
  await db.end();
  await stopNats(nats);
  stopServer(pgState);
}

/**
 * One takeover: 3 nodes apply a detached run; once node t-1 has committed batches of shards it runs,
 * it is SIGKILLed. Per shard it held: the seconds from the SIGKILL to the claim by another node and to
 * that node's first commit (database clock), and the recovery time the new owner logged.
 */
async function takeover(round) {
  const tag = `t${round}-`;
  const nodes = startNodes(3, tag);
  await sleep(1500);
  const runName = `bench-takeover-${Date.now()}`;
  // Not awaited: the victim is picked while the run is being published (nodes keep up with the
  // publisher, so once it is published the run is nearly over and a takeover has nothing to do).
  const publishing = run([
    'submit',
    ...keyArgs,
    input,
    '-q',
    '--run',
    runName,
    '--shards',
    values.shards,
    '--nats',
    nats.url,
    '--journal',
    pgState.url,
    '--detach',
  ]);
  const victim = `${tag}1`;
  let owned = [];
  let generations = new Map();
  while (owned.length === 0) {
    // (The tables appear once the submit or a node has created them.)
    const r = await db
      .query(
        `SELECT l.shard, l.generation FROM payments_cluster.leases l WHERE l.run = $1 AND l.node = $2 AND NOT l.finished
           AND EXISTS (SELECT 1 FROM payments.batches b WHERE b.journal = l.run AND b.partition = l.shard)`,
        [runName, victim],
      )
      .catch(() => ({ rows: [] }));
    owned = r.rows.map((x) => x.shard);
    generations = new Map(r.rows.map((x) => [x.shard, Number(x.generation)]));
    await sleep(50);
  }
  const load = loadavg()[0].toFixed(1);
  nodes[1].kill(values.signal);
  const killedAt = (await db.query('SELECT clock_timestamp() AS t')).rows[0].t;
  const times = [];
  for (const shard of owned) {
    for (;;) {
      const r = await db.query(
        // The next owner's first commit (a stopping node still commits the batches it had in flight).
        `SELECT extract(epoch FROM min(committed_at) - $3::timestamptz) AS s FROM payments.batches
          WHERE journal = $1 AND partition = $2 AND committed_at > $3::timestamptz AND generation > $4`,
        [runName, shard, killedAt, generations.get(shard)],
      );
      const lease = await db.query(
        `SELECT finished, node, extract(epoch FROM claimed_at - $3::timestamptz) AS claimed
           FROM payments_cluster.leases WHERE run = $1 AND shard = $2`,
        [runName, shard, killedAt],
      );
      const l = lease.rows[0];
      if (r.rows[0].s !== null) {
        times.push({ shard, first: Number(r.rows[0].s), claimed: Number(l.claimed), node: l.node });
        break;
      }
      if (l.finished) break;
      await sleep(50);
    }
  }
  // The new owner's log line for the shard: how long its recovery took.
  for (const t of times) {
    const text = readFileSync(join(logDir, `${t.node}.log`), 'utf8');
    const line = text
      .split('\n')
      .filter((x) => x.includes('"shard claimed and recovered"') && x.includes(`"run":"${runName}"`))
      .map((x) => JSON.parse(x))
      .find((x) => x.shard === t.shard);
    t.recovery = (line?.recoveryMs ?? NaN) / 1000;
    t.replayed = line?.recordsReplayed;
  }
  console.log(
    `takeover ${round} after ${values.signal} (lease ${values['lease-ms']} ms, load average ${load}): ` +
      times
        .map(
          (t) =>
            `shard ${t.shard}: claimed ${t.claimed.toFixed(2)} s, recovered in ${t.recovery.toFixed(2)} s ` +
            `(${t.replayed} records), first batch ${t.first.toFixed(2)} s`,
        )
        .join('; '),
  );
  const detached = await publishing;
  if (detached.code !== 0) throw new Error(detached.stderr);
  while (true) {
    const f = await db.query('SELECT bool_and(finished) AS f FROM payments_cluster.leases WHERE run = $1', [runName]);
    if (f.rows[0].f) break;
    await sleep(200);
  }
  const final = await run(['result', '--run', runName, '--journal', pgState.url]);
  console.log(`after takeover ${round}, result equals the single-process run: ${final.stdout === single.stdout}`);
  await stopNodes(nodes);
  return times;
}
