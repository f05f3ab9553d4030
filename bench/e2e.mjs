// End-to-end benchmark: generates the 3.75 M-row dataset once into data/generated/ (git-ignored),
// then times the built CLI on it for several worker counts, beside a bare papaparse parse of the
// same file measured in the same run. Prints a markdown table (median of --runs runs each).
//
//   npm run bench:e2e                       # 3.75 M rows, workers 1, 2, 4, 3 runs each
//   npm run bench:e2e -- --rows 37500000    # 10x
//   npm run bench:e2e -- --journal          # also with --journal (durable SQLite journal)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '3750000' },
    clients: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1,2,4' },
    journal: { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const runs = Number(values.runs);
const workerCounts = values.workers.split(',').map(Number);
const data = join(root, 'data/generated', `tx-${rows}.csv`);

function run(args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds, stdout, stderr });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

if (!existsSync(data)) {
  console.error(`generating ${rows} rows into ${data} ...`);
  await run([bin, 'generate', '-n', String(rows), '-c', values.clients, '--seed', '1', '--no-progress', data]);
}
const bytes = statSync(data).size;
console.error(`dataset: ${data} (${(bytes / 1e6).toFixed(1)} MB, ${rows} rows)`);

// Papaparse alone: Papa.parse on a stream of the same file, every row delivered, nothing else done.
const papa = [];
for (let i = 0; i < runs; i++) papa.push((await run([join(root, 'bench/papa-only.mjs'), data])).seconds);
const papaSeconds = median(papa);
console.error(`papaparse alone: ${papa.map((s) => s.toFixed(2)).join(', ')} s`);

const tmp = mkdtempSync(join(tmpdir(), 'payments-bench-e2e-'));
const results = [];
let reference;
const configs = workerCounts.map((w) => ({ workers: w, journal: false }));
if (values.journal) configs.push(...workerCounts.map((w) => ({ workers: w, journal: true })));
for (const { workers, journal } of configs) {
  const walls = [];
  const rss = [];
  let journalBytes;
  for (let i = 0; i < runs; i++) {
    const report = join(tmp, 'report.json');
    const journalDir = join(tmp, 'journal');
    rmSync(journalDir, { recursive: true, force: true });
    // Run as `npm start` and the `payments` bin run it (with their V8 flag).
    const args = ['--max-semi-space-size=4', bin, data, '--workers', String(workers), '--quiet', '--report', report];
    if (journal) args.push('--journal', journalDir);
    const { seconds, stdout } = await run(args);
    if (reference === undefined) reference = stdout;
    else if (stdout !== reference)
      throw new Error(`output differs with --workers ${workers}${journal ? ' --journal' : ''}`);
    walls.push(seconds);
    rss.push(JSON.parse(readFileSync(report, 'utf8')).peakRssBytes);
    if (journal) journalBytes = dirBytes(journalDir);
  }
  const wall = median(walls);
  const row = {
    config: `--workers ${workers}${journal ? ' --journal' : ''}`,
    wall: wall.toFixed(2),
    runs: walls.map((s) => s.toFixed(2)).join(' / '),
    txs: fmt(rows / wall),
    rss: (median(rss) / 2 ** 20).toFixed(0),
    ratio: (wall / papaSeconds).toFixed(2),
    journal:
      journalBytes === undefined
        ? ''
        : `${(journalBytes / 2 ** 20).toFixed(0)} MiB (${(journalBytes / rows).toFixed(1)} B/row)`,
  };
  results.push(row);
  console.error(`${row.config}: ${row.runs} s`);
}
rmSync(tmp, { recursive: true, force: true });

function dirBytes(dir) {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return total;
}

console.log(
  `\nMachine: ${cpus().length} × ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
console.log(
  `Dataset: ${rows.toLocaleString('en-US')} rows, ${(bytes / 1e6).toFixed(1)} MB; papaparse alone: ${papaSeconds.toFixed(2)} s (median of ${runs})\n`,
);
console.log('| run | wall s (median) | runs | tx/s | peak RSS MiB | × papaparse | journal on disk |');
console.log('|---|---:|---|---:|---:|---:|---|');
for (const r of results)
  console.log(`| ${r.config} | ${r.wall} | ${r.runs} | ${r.txs} | ${r.rss} | ${r.ratio} | ${r.journal} |`);
