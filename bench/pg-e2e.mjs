// End-to-end benchmark of the PostgreSQL journal beside the SQLite one: the 3.75 M-row dataset
// (generated once into data/generated/), the built CLI with --journal postgres://… and with
// --journal DIR, same worker count; tx/s, peak RSS, bytes a row in the database
// (pg_total_relation_size of the journal's tables) or on disk, and the server settings used.
//
//   node bench/pg-e2e.mjs [--url postgres://…] [--rows 3750000] [--runs 3] [--workers 2]
//
// Without --url it starts a throw-away server with fsync on (scripts/test-postgres.mjs --fsync
// --stat-statements) and prints the statements that took the server's time.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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
  },
});
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

if (!existsSync(data)) {
  console.error(`generating ${rows} rows into ${data} ...`);
  await run([bin, 'generate', '-n', String(rows), '-c', values.clients, '--seed', '1', '--no-progress', data]);
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
const results = [];
let reference;
for (const kind of ['sqlite', 'postgres']) {
  const walls = [];
  const rss = [];
  let bytesPerRow;
  for (let i = 0; i < runs; i++) {
    const report = join(tmp, 'report.json');
    const journalDir = join(tmp, 'journal');
    rmSync(journalDir, { recursive: true, force: true });
    const name = `bench-${Date.now()}`;
    const location = kind === 'sqlite' ? journalDir : `${url}${url.includes('?') ? '&' : '?'}journal=${name}`;
    if (kind === 'postgres' && server) await admin.query('SELECT pg_stat_statements_reset()');
    const args = ['--max-semi-space-size=4', bin, data, '--workers', values.workers, '--quiet', '--report', report];
    const { seconds, stdout } = await run([...args, '--journal', location]);
    if (reference === undefined) reference = stdout;
    else if (stdout !== reference) throw new Error(`output differs with the ${kind} journal`);
    walls.push(seconds);
    rss.push(JSON.parse(readFileSync(report, 'utf8')).peakRssBytes);
    if (kind === 'sqlite') bytesPerRow = dirBytes(journalDir) / rows;
    else {
      const { id } = (await admin.query('SELECT id FROM payments.journals WHERE name = $1', [name])).rows[0];
      const size = await admin.query(
        `SELECT pg_total_relation_size('payments.records_j${id}') AS records,
          (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM payments.batches t WHERE journal = $1) AS batches,
          (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM payments.snapshot_parts t WHERE journal = $1)
          + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM payments.snapshots t WHERE journal = $1) AS snapshots`,
        [name],
      );
      const leafSizes = await admin.query(
        `SELECT sum(pg_total_relation_size(c.oid))::bigint AS b FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'payments.records_j${id}'::regclass`,
      );
      const s = size.rows[0];
      const recordsBytes = Number(leafSizes.rows[0].b ?? s.records);
      bytesPerRow = (recordsBytes + Number(s.batches) + Number(s.snapshots)) / rows;
      console.error(
        `  records ${(recordsBytes / rows).toFixed(1)} B/row, batches ${(Number(s.batches) / 1e6).toFixed(2)} MB, snapshots ${(Number(s.snapshots) / 1e6).toFixed(1)} MB`,
      );
      if (server && i === runs - 1) {
        const top = await admin.query(
          "SELECT calls, round(total_exec_time)::int AS ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6",
        );
        console.error('  server time by statement (pg_stat_statements, last run):');
        for (const r of top.rows)
          console.error(`    ${String(r.ms).padStart(7)} ms ${String(r.calls).padStart(6)} calls  ${r.query}`);
      }
    }
  }
  const wall = median(walls);
  results.push({
    config: `--workers ${values.workers} --journal ${kind === 'sqlite' ? 'DIR (SQLite)' : 'postgres://…'}`,
    wall: wall.toFixed(2),
    runs: walls.map((s) => s.toFixed(2)).join(' / '),
    txs: fmt(rows / wall),
    rss: (median(rss) / 2 ** 20).toFixed(0),
    bytes: bytesPerRow.toFixed(1),
  });
  console.error(`${kind}: ${walls.map((s) => s.toFixed(2)).join(' / ')} s`);
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
console.log('| run | wall s (median) | runs | tx/s | peak RSS MiB | journal bytes/row |');
console.log('|---|---:|---|---:|---:|---:|');
for (const r of results) console.log(`| ${r.config} | ${r.wall} | ${r.runs} | ${r.txs} | ${r.rss} | ${r.bytes} |`);
