// End-to-end benchmark of the durable journals beside the in-memory run: the generator's 3.75 M
// rows and the same rows in the spaced format with 3-field dispute rows (both made once into
// data/generated/), the built CLI in memory, with --journal DIR (SQLite) and --journal
// postgres://…, same worker count; wall, tx/s, peak RSS, journal bytes a row (on disk, or
// pg_total_relation_size of every payments table in a database of the run's own), and the
// server's cost a row: statement time (pg_stat_statements) and CPU of every postgres process.
//
//   node bench/pg-e2e.mjs [--url postgres://…] [--rows 3750000] [--runs 3] [--workers 2]
//                         [--sealed] [--only memory,sqlite,…] [--datasets generated,spaced]
//
// --sealed adds both journals sealed (--journal-key-file, a fresh key in a temporary file):
// configurations sqlite-sealed and postgres-sealed. --only runs the named configurations alone.
// Every run also reports the CLI's CPU seconds (user + system of the process and its threads).
//
// Without --url it starts a throw-away server with fsync on (scripts/test-postgres.mjs --fsync
// --stat-statements) and prints the statements that took the server's time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startServer, stopServer } from '../scripts/test-postgres.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');
const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rows: { type: 'string', default: '3750000' },
    clients: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    sealed: { type: 'boolean', default: false },
    only: { type: 'string' },
    datasets: { type: 'string', default: 'generated,spaced' },
  },
});
const allKinds = ['memory', 'sqlite', 'postgres', ...(values.sealed ? ['sqlite-sealed', 'postgres-sealed'] : [])];
const kinds = values.only === undefined ? allKinds : values.only.split(',');
for (const k of kinds)
  if (!['memory', 'sqlite', 'postgres', 'sqlite-sealed', 'postgres-sealed'].includes(k)) {
    console.error(`--only: unknown configuration ${k}`);
    process.exit(2);
  }
const datasets = values.datasets.split(',');
const rows = Number(values.rows);
const runs = Number(values.runs);
const data = join(root, 'data/generated', `tx-${rows}.csv`);

function run(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`exited ${code}: ${stderr}`));
      else resolve({ seconds: (performance.now() - started) / 1000, stdout, stderr });
    });
  });
}

/** CPU seconds of this process's reaped children (cutime + cstime): a finished CLI run's, threads included. */
function childCpuSeconds() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

if (!existsSync(data)) {
  mkdirSync(join(root, 'data/generated'), { recursive: true });
  console.error(`generating ${rows} rows into ${data} ...`);
  await run([bin, 'generate', '-n', String(rows), '-c', values.clients, '--seed', '1', '--no-progress', data]);
}
const spaced = join(root, 'data/generated', `tx-${rows}-spaced.csv`);
if (!existsSync(spaced)) {
  // ", " between fields, and dispute/resolve/chargeback rows without their empty amount field.
  const text = readFileSync(data, 'utf8').replace(/,/g, ', ').replace(/, \n/g, '\n');
  writeFileSync(spaced, text);
}

/** CPU-seconds of every process named postgres (the server's, whoever it serves). */
function postgresCpuSeconds() {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue;
      const f = stat.slice(close + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime, stime, and of children reaped (backends)
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100;
}

const server = values.url ? undefined : await startServer({ fsync: true, statStatements: true });
const url = values.url ?? server.url;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
if (server) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
const settings = (
  await admin.query(
    "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers','synchronous_commit','fsync','full_page_writes','wal_level','max_wal_size','checkpoint_timeout','wal_buffers','work_mem','maintenance_work_mem','autovacuum') ORDER BY name",
  )
).rows
  .map((r) => `${r.name}=${r.setting}${r.unit ?? ''}`)
  .join(', ');

const tmp = mkdtempSync(join(tmpdir(), 'payments-bench-pg-'));
const keyFile = join(tmp, 'journal.key');
writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
const results = [];
let database = 0;
for (const [dataset, file] of [
  ['generated', data],
  ['spaced, 3-field disputes', spaced],
].filter(([name]) => datasets.includes(name.split(',')[0]))) {
  let reference;
  for (const config of kinds) {
    const kind = config.replace('-sealed', '');
    const sealed = config.endsWith('-sealed') ? ['--journal-key-file', keyFile] : [];
    const walls = [];
    const cpus = [];
    const rss = [];
    const serverUs = [];
    const serverCpuUs = [];
    let bytesPerRow = 0;
    for (let i = 0; i < runs; i++) {
      const report = join(tmp, 'report.json');
      const journalDir = join(tmp, 'journal');
      rmSync(journalDir, { recursive: true, force: true });
      // A database of the run's own: its size is the journal's, everything included.
      const db = `bench_${process.pid}_${database++}`;
      if (kind === 'postgres') await admin.query(`CREATE DATABASE ${db}`);
      const dbUrl = new URL(url);
      dbUrl.pathname = `/${db}`;
      dbUrl.searchParams.set('journal', 'bench');
      const journal =
        kind === 'sqlite' ? ['--journal', journalDir] : kind === 'postgres' ? ['--journal', dbUrl.toString()] : [];
      if (kind === 'postgres' && server) await admin.query('SELECT pg_stat_statements_reset()');
      const cpuBefore = postgresCpuSeconds();
      const cliCpuBefore = childCpuSeconds();
      const args = ['--max-semi-space-size=4', bin, file, '--workers', values.workers, '--quiet', '--report', report];
      const { seconds, stdout } = await run([...args, ...journal, ...sealed]);
      cpus.push(childCpuSeconds() - cliCpuBefore);
      const cpu = postgresCpuSeconds() - cpuBefore;
      if (reference === undefined) reference = stdout;
      else if (stdout !== reference) throw new Error(`output differs with the ${kind} journal`);
      walls.push(seconds);
      rss.push(JSON.parse(readFileSync(report, 'utf8')).peakRssBytes);
      if (kind === 'sqlite') bytesPerRow = dirBytes(journalDir) / rows;
      if (kind !== 'postgres') continue;
      serverCpuUs.push((cpu / rows) * 1e6);
      const c = new pg.Client({ connectionString: dbUrl.toString() });
      await c.connect();
      const size = await c.query(
        `SELECT c.relname, pg_total_relation_size(c.oid)::bigint AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'payments' AND c.relkind IN ('r', 'p') ORDER BY 2 DESC`,
      );
      await c.end();
      const total = size.rows.reduce((sum, r) => sum + Number(r.b), 0);
      bytesPerRow = total / rows;
      console.error(`  ${size.rows.map((r) => `${r.relname} ${(Number(r.b) / 1e6).toFixed(1)} MB`).join(', ')}`);
      if (server) {
        const st = await admin.query(
          "SELECT sum(total_exec_time) AS ms FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'",
        );
        serverUs.push((Number(st.rows[0].ms) * 1000) / rows);
        if (i === runs - 1) {
          const top = await admin.query(
            "SELECT calls, round(total_exec_time)::int AS ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 4",
          );
          console.error('  server time by statement (pg_stat_statements, last run):');
          for (const r of top.rows)
            console.error(`    ${String(r.ms).padStart(7)} ms ${String(r.calls).padStart(6)} calls  ${r.query}`);
        }
      }
      await admin.query(`DROP DATABASE ${db} WITH (FORCE)`);
    }
    const wall = median(walls);
    results.push({
      dataset,
      config:
        (kind === 'memory' ? 'in memory' : kind === 'sqlite' ? '--journal DIR (SQLite)' : '--journal postgres://…') +
        (sealed.length > 0 ? ', sealed' : ''),
      cpu: median(cpus).toFixed(2),
      wall: wall.toFixed(2),
      runs: walls.map((s) => s.toFixed(2)).join(' / '),
      txs: fmt(rows / wall),
      rss: (median(rss) / 2 ** 20).toFixed(0),
      bytes: kind === 'memory' ? '–' : bytesPerRow.toFixed(1),
      server:
        kind === 'postgres' && serverUs.length > 0
          ? `${median(serverUs).toFixed(2)} / ${median(serverCpuUs).toFixed(2)}`
          : '–',
    });
    console.error(
      `${dataset}, ${config}: ${walls.map((s) => s.toFixed(2)).join(' / ')} s; CLI CPU ${cpus.map((s) => s.toFixed(2)).join(' / ')} s`,
    );
  }
}
await admin.end();
if (server) stopServer(server);
rmSync(tmp, { recursive: true, force: true });

function dirBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  return total;
}

console.log(
  `\nMachine: ${cpus().length} × ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
console.log(`Dataset: ${rows.toLocaleString('en-US')} rows; server settings: ${settings}\n`);
console.log(
  '| dataset | run | wall s (median) | runs | CLI CPU s (median) | tx/s | peak RSS MiB | journal bytes/row | server µs/row: statements / CPU |',
);
console.log('|---|---|---:|---|---:|---:|---:|---:|---:|');
for (const r of results)
  console.log(
    `| ${r.dataset} | ${r.config} | ${r.wall} | ${r.runs} | ${r.cpu} | ${r.txs} | ${r.rss} | ${r.bytes} | ${r.server} |`,
  );
for (const dataset of new Set(results.map((r) => r.dataset))) {
  const find = (config) => results.find((r) => r.dataset === dataset && r.config === config);
  const ratio = (a, b, field) =>
    find(a) && find(b) ? (Number(find(a)[field]) / Number(find(b)[field])).toFixed(2) : '–';
  console.log(
    `${dataset}: SQLite/memory ${ratio('--journal DIR (SQLite)', 'in memory', 'wall')}×, PostgreSQL/SQLite ${ratio('--journal postgres://…', '--journal DIR (SQLite)', 'wall')}×`,
  );
  for (const journal of ['--journal DIR (SQLite)', '--journal postgres://…'])
    if (find(`${journal}, sealed`))
      console.log(
        `${dataset}: ${journal} sealed/unsealed: wall ${ratio(`${journal}, sealed`, journal, 'wall')}×, CLI CPU ${ratio(`${journal}, sealed`, journal, 'cpu')}×`,
      );
}
