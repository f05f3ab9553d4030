// End-to-end benchmark: generates each dataset once into data/generated/ (git-ignored), then times
// the built CLI on it for several worker counts, in memory and with --journal, beside a bare
// papaparse parse of the same file measured in the same run. Prints a markdown table (median of
// --runs runs each), saves every measurement as JSON (bench/results/latest.json) and renders the
// charts from it (docs/bench/*.svg, by bench/charts.mjs; `npm run bench:charts` re-renders them
// from the JSON without re-running).
//
//   npm run bench:e2e                                    # 250k, 1M, 2M, 3.75M rows; workers 1, 2, 4;
//                                                        # in memory and --journal; 3 runs each
//   npm run bench:e2e -- --sizes 3.75M --no-journal      # one size, in memory only
//   npm run bench:e2e -- --sizes 37.5M --workers 1,2 --runs 1 --results /tmp/10x.json --no-charts
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ResultsError,
  defaultChartsDir,
  defaultResultsPath,
  renderAndReport,
  resultsSchemaVersion,
  rowsLabel,
  shownPath,
  validateResults,
} from './charts.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');

/** A mistake in this script's arguments: one line and exit 2, as the CLI does. */
class UsageError extends Error {}

/** "250k", "3.75M", "1000000" → a positive whole number of rows. */
export function parseCount(text, option) {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 };
  const exact = match ? Number(match[1]) * scale[match[2]] : NaN;
  const value = Math.round(exact);
  // 0.1M is 100000.00000000001 in floating point: whole means within rounding, not bit-equal.
  if (!match || !Number.isSafeInteger(value) || value < 1 || Math.abs(exact - value) > 1e-6)
    throw new UsageError(`${option}: "${text}" is not a positive whole number (e.g. 250000, 250k, 3.75M)`);
  return value;
}

export function parseList(text, option) {
  const items = text.split(',').filter((s) => s.trim() !== '');
  if (items.length === 0) throw new UsageError(`${option}: "${text}" is an empty list`);
  const values = items.map((s) => parseCount(s, option));
  if (new Set(values).size !== values.length) throw new UsageError(`${option}: "${text}" names a value twice`);
  return values;
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      sizes: { type: 'string' },
      rows: { type: 'string' }, // one size; kept for the commands the README already quotes
      clients: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '3' },
      workers: { type: 'string', default: '1,2,4' },
      journal: { type: 'boolean', default: true },
      results: { type: 'string', default: defaultResultsPath },
      charts: { type: 'boolean', default: true },
      'charts-dir': { type: 'string', default: defaultChartsDir },
    },
  });
  if (values.sizes !== undefined && values.rows !== undefined)
    throw new UsageError('--rows and --sizes both given: --rows N is --sizes N, pass one');
  const sizes = parseList(values.sizes ?? values.rows ?? '250k,1M,2M,3.75M', values.rows ? '--rows' : '--sizes');
  return {
    sizes: sizes.sort((a, b) => a - b),
    clients: parseCount(values.clients, '--clients'),
    runs: parseCount(values.runs, '--runs'),
    workerCounts: parseList(values.workers, '--workers'),
    journal: values.journal,
    resultsPath: values.results,
    charts: values.charts,
    chartsDir: values['charts-dir'],
  };
}

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
      // The CLI's last stderr line is its one-line error.
      const said = stderr.trim().split('\n').at(-1) ?? '';
      if (code !== 0)
        reject(
          new Error(
            `node ${args.map((a) => (a.startsWith(root) ? relative(root, a) : a)).join(' ')} exited ${code}: ${said}`,
          ),
        );
      else resolve({ seconds, stdout, stderr });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

function dirBytes(dir) {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return total;
}

function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return null; // not a git checkout: the caption just leaves the commit out
  }
}

/** Measures one dataset: papaparse alone, then every configuration, checking they print the same bytes. */
async function measureSize(rows, options, tmp) {
  const data = join(root, 'data/generated', `tx-${rows}-c${options.clients}-s1.csv`);
  if (!existsSync(data)) {
    console.error(`generating ${rows} rows into ${relative(root, data)} ...`);
    mkdirSync(dirname(data), { recursive: true });
    // Generated under a temporary name so a stopped run never leaves a truncated dataset behind.
    const partial = `${data}.partial`;
    await run([
      bin,
      'generate',
      '-n',
      String(rows),
      '-c',
      String(options.clients),
      '--seed',
      '1',
      '--no-progress',
      partial,
    ]);
    renameSync(partial, data);
  }
  const bytes = statSync(data).size;
  console.error(`dataset: ${relative(root, data)} (${(bytes / 1e6).toFixed(1)} MB, ${rows} rows)`);

  // Papaparse alone: Papa.parse on a stream of the same file, every row delivered, nothing else done.
  const papa = [];
  for (let i = 0; i < options.runs; i++) papa.push((await run([join(root, 'bench/papa-only.mjs'), data])).seconds);
  console.error(`papaparse alone: ${papa.map((s) => s.toFixed(2)).join(', ')} s`);

  const configs = options.workerCounts.map((w) => ({ workers: w, journal: false }));
  if (options.journal) configs.push(...options.workerCounts.map((w) => ({ workers: w, journal: true })));
  const measured = [];
  let reference;
  for (const { workers, journal } of configs) {
    const walls = [];
    const rss = [];
    let journalBytes = null;
    let storedTransactions;
    for (let i = 0; i < options.runs; i++) {
      const reportPath = join(tmp, 'report.json');
      const journalDir = join(tmp, 'journal');
      rmSync(journalDir, { recursive: true, force: true });
      rmSync(reportPath, { force: true });
      // Run as `npm start` and the `payments` bin run it (with their V8 flag).
      const args = [
        '--max-semi-space-size=4',
        bin,
        data,
        '--workers',
        String(workers),
        '--quiet',
        '--report',
        reportPath,
      ];
      if (journal) args.push('--journal', journalDir);
      const { seconds, stdout } = await run(args);
      if (reference === undefined) reference = stdout;
      else if (stdout !== reference)
        throw new Error(`${rows} rows: output differs with --workers ${workers}${journal ? ' --journal' : ''}`);
      const report = JSON.parse(readFileSync(reportPath, 'utf8'));
      // Fail on the first run, not after the whole benchmark, if the report's schema moved.
      for (const key of ['peakRssBytes', 'storedTransactions'])
        if (!Number.isInteger(report[key])) throw new Error(`--report JSON has no integer "${key}" (schema changed?)`);
      walls.push(seconds);
      rss.push(report.peakRssBytes);
      storedTransactions = report.storedTransactions;
      if (journal) journalBytes = dirBytes(journalDir);
    }
    const entry = {
      rows,
      inputBytes: bytes,
      workers,
      journal,
      wallSeconds: round3(median(walls)),
      runsWallSeconds: walls.map(round3),
      peakRssBytes: median(rss),
      runsPeakRssBytes: rss,
      storedTransactions,
      journalBytes,
      papaparseSeconds: round3(median(papa)),
    };
    measured.push(entry);
    console.error(
      `${rowsLabel(rows)} rows --workers ${workers}${journal ? ' --journal' : ''}: ${entry.runsWallSeconds.join(', ')} s`,
    );
  }
  return measured;
}

const round3 = (x) => Math.round(x * 1000) / 1000;

function printTable(results) {
  const m = results.machine;
  console.log(`\nMachine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${m.node}`);
  console.log(
    `Wall time: median of ${results.runsPerConfig} run(s); × papaparse = wall / Papa.parse alone on the same file\n`,
  );
  console.log('| rows | MB | run | wall s | runs | tx/s | peak RSS MiB | stored tx | × papaparse | journal on disk |');
  console.log('|---:|---:|---|---:|---|---:|---:|---:|---:|---|');
  for (const r of results.results) {
    const journal =
      r.journalBytes === null
        ? ''
        : `${(r.journalBytes / 2 ** 20).toFixed(0)} MiB (${(r.journalBytes / r.rows).toFixed(1)} B/row)`;
    console.log(
      `| ${fmt(r.rows)} | ${(r.inputBytes / 1e6).toFixed(1)} | --workers ${r.workers}${r.journal ? ' --journal' : ''} | ` +
        `${r.wallSeconds.toFixed(2)} | ${r.runsWallSeconds.map((s) => s.toFixed(2)).join(' / ')} | ${fmt(r.rows / r.wallSeconds)} | ` +
        `${(r.peakRssBytes / 2 ** 20).toFixed(0)} | ${fmt(r.storedTransactions)} | ${(r.wallSeconds / r.papaparseSeconds).toFixed(2)} | ${journal} |`,
    );
  }
}

async function main(argv) {
  const options = parseOptions(argv);
  if (!existsSync(bin))
    throw new UsageError(`${relative(root, bin)} not found: run npm run build first (npm run bench:e2e does)`);
  const loadAtStart = loadavg()[0];
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'payments-bench-e2e-'));
  const measured = [];
  try {
    for (const rows of options.sizes) measured.push(...(await measureSize(rows, options, tmp)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const results = validateResults({
    schemaVersion: resultsSchemaVersion,
    date: started.toISOString(),
    command: `npm run bench:e2e${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
    commit: gitCommit(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0].model.trim(),
      memoryBytes: totalmem(),
      node: process.version,
      // Other work on the machine shows here: the figures are only as quiet as the machine was.
      loadAverage1m: round3(loadAtStart),
      loadAverage1mAtEnd: round3(loadavg()[0]),
    },
    runsPerConfig: options.runs,
    clients: options.clients,
    results: measured,
  });
  printTable(results);
  mkdirSync(dirname(options.resultsPath), { recursive: true });
  writeFileSync(options.resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.error(`\nwrote ${shownPath(options.resultsPath)}`);
  if (options.charts) await renderAndReport(results, options.chartsDir);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError || error instanceof ResultsError || error.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`bench:e2e: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`bench:e2e: ${process.env.BENCH_DEBUG ? error.stack : error.message}`);
      process.exitCode = 1;
    }
  }
}
