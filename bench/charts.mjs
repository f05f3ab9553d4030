// Benchmark charts: reads the results bench/e2e.mjs saved (bench/results/latest.json) and renders
// one SVG per question the README answers, with vega-lite compiled to a vega spec and rendered
// headlessly (no browser, no canvas). Re-rendering the same JSON gives the same bytes.
//
//   npm run bench:charts                                   # bench/results/latest.json → docs/bench/*.svg
//   node bench/charts.mjs some-results.json --out /tmp/charts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export const resultsSchemaVersion = 1;
const root = fileURLToPath(new URL('..', import.meta.url));
export const defaultResultsPath = join(root, 'bench/results/latest.json');
export const defaultChartsDir = join(root, 'docs/bench');

const MiB = 2 ** 20;
const width = 560;
const panelWidth = 190;
const height = 300;
// Without a canvas vega estimates text as 0.8 × font size a character, and sizes the figure (legend
// placement included) by that estimate: captions are wrapped to fit the plot by the same measure.
const captionFontSize = 10;
const estimatedCharPx = 0.8 * captionFontSize;
const yAxisPx = 60;

/** A results file that cannot be charted: the message is the whole answer (one line, no stack). */
export class ResultsError extends Error {
  name = 'ResultsError';
}

/** Checks what the charts read, so a hand-edited or truncated file fails here with its field named. */
export function validateResults(results, source = 'results') {
  const fail = (what) => {
    throw new ResultsError(`${source}: ${what}`);
  };
  if (results === null || typeof results !== 'object' || Array.isArray(results)) fail('not a JSON object');
  if (results.schemaVersion !== resultsSchemaVersion)
    fail(`schemaVersion ${JSON.stringify(results.schemaVersion)}, expected ${resultsSchemaVersion}`);
  for (const key of ['date', 'command'])
    if (typeof results[key] !== 'string' || results[key] === '') fail(`"${key}" must be a non-empty string`);
  if (Number.isNaN(Date.parse(results.date))) fail(`"date" ${JSON.stringify(results.date)} is not a date`);
  const machine = results.machine;
  if (machine === null || typeof machine !== 'object') fail('"machine" must be an object');
  if (!Number.isInteger(machine.cpus) || machine.cpus < 1) fail('"machine.cpus" must be a positive integer');
  for (const key of ['cpuModel', 'node'])
    if (typeof machine[key] !== 'string') fail(`"machine.${key}" must be a string`);
  if (!isCount(machine.memoryBytes)) fail('"machine.memoryBytes" must be a positive integer');
  if (!Number.isInteger(results.runsPerConfig) || results.runsPerConfig < 1)
    fail('"runsPerConfig" must be a positive integer');
  if (!Array.isArray(results.results) || results.results.length === 0) fail('"results" must be a non-empty array');
  results.results.forEach((r, i) => {
    const at = `results[${i}]`;
    if (r === null || typeof r !== 'object') fail(`${at} must be an object`);
    for (const key of ['rows', 'inputBytes', 'workers', 'peakRssBytes'])
      if (!isCount(r[key])) fail(`${at}.${key} must be a positive integer (got ${JSON.stringify(r[key])})`);
    if (!Number.isInteger(r.storedTransactions) || r.storedTransactions < 0)
      fail(`${at}.storedTransactions must be a non-negative integer (got ${JSON.stringify(r.storedTransactions)})`);
    if (typeof r.journal !== 'boolean') fail(`${at}.journal must be true or false`);
    if (!(typeof r.wallSeconds === 'number' && r.wallSeconds > 0))
      fail(`${at}.wallSeconds must be a positive number (got ${JSON.stringify(r.wallSeconds)})`);
  });
  const seen = new Set();
  for (const r of results.results) {
    const key = `${r.rows}/${r.workers}/${r.journal}`;
    if (seen.has(key)) fail(`two results for ${r.rows} rows, ${configLabel(r)}`);
    seen.add(key);
  }
  return results;
}

const isCount = (n) => Number.isInteger(n) && n > 0;

/** A path as the user would type it: relative when under the current directory, absolute otherwise. */
export function shownPath(path) {
  const inside = relative(process.cwd(), path);
  return inside === '' || inside.startsWith('..') ? path : inside;
}

/** Reads and validates a results file; every failure is a ResultsError with a one-line message. */
export function loadResults(path) {
  const shown = shownPath(path);
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const hint = error.code === 'ENOENT' ? ' (run npm run bench:e2e first, or name a results file)' : '';
    throw new ResultsError(`cannot read ${shown}: ${error.code ?? error.message}${hint}`);
  }
  let results;
  try {
    results = JSON.parse(text);
  } catch (error) {
    throw new ResultsError(`${shown} is not valid JSON: ${error.message}`);
  }
  return validateResults(results, shown);
}

export const configLabel = (r) => `--workers ${r.workers}${r.journal ? ' --journal' : ''}`;

/** 250000 → "250k", 3750000 → "3.75M": how the README and the captions name a file size. */
export function rowsLabel(rows) {
  if (rows >= 1e6) return `${+(rows / 1e6).toFixed(2)}M`;
  if (rows >= 1e3) return `${+(rows / 1e3).toFixed(1)}k`;
  return String(rows);
}

/** One flat record per measured configuration, in the units the axes show. */
export function chartRows(results) {
  const inMemory = new Map(
    results.results.filter((r) => !r.journal).map((r) => [`${r.rows}/${r.workers}`, r.wallSeconds]),
  );
  return results.results
    .map((r) => {
      const memoryWall = inMemory.get(`${r.rows}/${r.workers}`);
      return {
        config: configLabel(r),
        rows: r.rows,
        rowsLabel: rowsLabel(r.rows),
        inputMB: r.inputBytes / 1e6,
        workers: r.workers,
        journal: r.journal ? 'with --journal' : 'in memory',
        wallSeconds: r.wallSeconds,
        txPerSecond: r.rows / r.wallSeconds,
        peakRssMiB: r.peakRssBytes / MiB,
        storedMillions: r.storedTransactions / 1e6,
        // The journal's throughput as a share of the same run without it.
        shareOfInMemory: r.journal && memoryWall !== undefined ? memoryWall / r.wallSeconds : null,
      };
    })
    .sort((a, b) => a.rows - b.rows || a.workers - b.workers || a.journal.localeCompare(b.journal));
}

/** The caption every chart carries: the machine, the command and the date, so a figure is never orphaned. */
export function caption(results, extra = []) {
  const m = results.machine;
  // A loaded machine is said so on the figure itself: its times are only as quiet as the machine was.
  const end = typeof m.loadAverage1mAtEnd === 'number' ? `, ${m.loadAverage1mAtEnd.toFixed(1)} at end` : '';
  const load =
    typeof m.loadAverage1m === 'number' ? `, 1-min load average ${m.loadAverage1m.toFixed(1)} at start${end}` : '';
  const runs = results.runsPerConfig === 1 ? 'one run per point' : `median of ${results.runsPerConfig} runs per point`;
  const commit = results.commit ? `, commit ${results.commit}` : '';
  return [
    ...extra,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${m.node}${load}.`,
    `Command: ${results.command} (${runs}${commit}).`,
    `Date: ${results.date.slice(0, 16).replace('T', ' ')} UTC.`,
  ];
}

/**
 * Breaks lines at spaces to at most max characters (a longer word keeps its own line), so a caption
 * is no wider than its plot: the layout sizes the figure, legend included, by its widest part.
 */
export function wrap(lines, max) {
  const out = [];
  for (const line of lines) {
    let current = '';
    for (const word of line.split(' ')) {
      if (current !== '' && current.length + 1 + word.length > max) {
        out.push(current);
        current = word;
      } else current = current === '' ? word : `${current} ${word}`;
    }
    out.push(current);
  }
  return out;
}

const workersScale = (rows) => ({ domain: [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b) });
const journalScale = { domain: ['in memory', 'with --journal'] };
const colorWorkers = (rows) => ({
  field: 'workers',
  type: 'ordinal',
  title: 'Workers',
  scale: { ...workersScale(rows), scheme: 'tableau10' },
});
const dashJournal = {
  field: 'journal',
  type: 'nominal',
  title: 'Journal',
  scale: {
    ...journalScale,
    range: [
      [1, 0],
      [6, 3],
    ],
  },
};
const shapeJournal = {
  field: 'journal',
  type: 'nominal',
  title: 'Journal',
  scale: { ...journalScale, range: ['circle', 'square'] },
};
const txAxis = {
  field: 'txPerSecond',
  type: 'quantitative',
  title: 'Throughput (transactions per second)',
  // SI prefixes (350k, 1.2M), and a plain 0 rather than "0k" at the origin.
  axis: { labelExpr: "datum.value === 0 ? '0' : format(datum.value, '~s')" },
  scale: { zero: true },
};

/** The chart with its title above and its caption below (a bottom title on the inner chart). */
function framed(title, captionLines, chart, plotWidthPx) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 12,
    config: {
      font: 'Helvetica, Arial, sans-serif',
      view: { stroke: '#ddd' },
      axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
      legend: { labelFontSize: 11, titleFontSize: 12 },
    },
    title: { text: title, anchor: 'start', fontSize: 15, offset: 10 },
    vconcat: [
      {
        ...chart,
        title: {
          text: wrap(captionLines, Math.floor((plotWidthPx + yAxisPx) / estimatedCharPx)),
          orient: 'bottom',
          anchor: 'start',
          fontSize: captionFontSize,
          fontWeight: 'normal',
          color: '#555',
          offset: 14,
          lineHeight: 14,
        },
      },
    ],
  };
}

/** The vega-lite specs, one per chart, named by file. Charts without the data they need are left out. */
export function chartSpecs(results) {
  const rows = chartRows(results);
  const largest = Math.max(...rows.map((r) => r.rows));
  const atLargest = rows.filter((r) => r.rows === largest);
  const largestLabel = `${rowsLabel(largest)} rows (${atLargest[0].inputMB.toFixed(1)} MB)`;
  const specs = [];

  const cores = results.machine.cpus;
  const workerValues = workersScale(rows).domain;
  specs.push({
    name: 'throughput-vs-workers',
    title: 'Throughput against worker count',
    spec: framed(
      `Throughput against worker count, ${largestLabel}`,
      caption(results, [`The dotted line marks the machine's ${cores} cores; higher is better.`]),
      {
        width,
        height,
        layer: [
          {
            data: { values: atLargest },
            mark: { type: 'line', point: { size: 60, filled: true } },
            encoding: {
              x: {
                field: 'workers',
                type: 'quantitative',
                title: 'Worker threads (--workers)',
                scale: { domain: [0, Math.max(...workerValues, cores) + 0.5], nice: false },
                axis: { values: workerValues, format: 'd' },
              },
              y: txAxis,
              strokeDash: dashJournal,
              shape: shapeJournal,
              color: {
                field: 'journal',
                type: 'nominal',
                title: 'Journal',
                scale: { ...journalScale, scheme: 'tableau10' },
              },
            },
          },
          {
            data: { values: [{ cores }] },
            mark: { type: 'rule', strokeDash: [2, 3], color: '#888' },
            encoding: { x: { field: 'cores', type: 'quantitative' } },
          },
        ],
      },
      width,
    ),
  });

  specs.push({
    name: 'throughput-vs-size',
    title: 'Throughput against file size',
    spec: framed(
      'Throughput against file size',
      caption(results, [
        `Sizes: ${[...new Set(rows.map((r) => `${rowsLabel(r.rows)} rows`))].join(', ')}; time is the whole process, ` +
          'start-up included. Solid lines in memory, dashed with --journal.',
      ]),
      {
        width,
        height,
        data: { values: rows },
        mark: { type: 'line', point: { size: 50, filled: true } },
        encoding: {
          x: { field: 'inputMB', type: 'quantitative', title: 'Input file size (MB)', scale: { zero: true } },
          y: txAxis,
          color: colorWorkers(rows),
          strokeDash: dashJournal,
          shape: shapeJournal,
          detail: { field: 'config' },
        },
      },
      width,
    ),
  });

  specs.push({
    name: 'memory-vs-stored',
    title: 'Peak memory against stored transactions',
    spec: framed(
      'Peak memory against stored transactions',
      caption(results, [
        'Peak RSS of the whole process (every worker thread included), from --report; stored transactions are the ' +
          'deposits and withdrawals kept for later disputes (--report storedTransactions).',
        'Solid lines in memory, dashed with --journal.',
        ...slopeLines(results),
      ]),
      {
        width,
        height,
        data: { values: rows },
        mark: { type: 'line', point: { size: 50, filled: true } },
        encoding: {
          x: {
            field: 'storedMillions',
            type: 'quantitative',
            title: 'Stored transactions (millions)',
            scale: { zero: true },
          },
          y: { field: 'peakRssMiB', type: 'quantitative', title: 'Peak RSS (MiB)', scale: { zero: true } },
          color: colorWorkers(rows),
          strokeDash: dashJournal,
          shape: shapeJournal,
          detail: { field: 'config' },
        },
      },
      width,
    ),
  });

  const paired = rows.filter((r) => r.shareOfInMemory !== null);
  if (paired.length > 0) {
    const pairedKeys = new Set(paired.map((r) => `${r.rows}/${r.workers}`));
    const bars = rows.filter((r) => pairedKeys.has(`${r.rows}/${r.workers}`));
    const shares = paired.map((r) => r.shareOfInMemory);
    specs.push({
      name: 'journal-overhead',
      title: 'Journal overhead',
      spec: framed(
        'Journal overhead: throughput with and without --journal',
        caption(results, [
          `Labels: throughput with the durable SQLite journal as a share of the same run in memory ` +
            `(${percent(Math.min(...shares))} to ${percent(Math.max(...shares))}).`,
        ]),
        {
          data: {
            values: bars.map((r) => ({
              ...r,
              shareLabel: r.shareOfInMemory === null ? '' : percent(r.shareOfInMemory),
            })),
          },
          facet: {
            column: {
              field: 'workers',
              type: 'ordinal',
              title: null,
              header: { labelExpr: "'--workers ' + datum.value", labelFontSize: 12, titleFontSize: 12 },
            },
          },
          spec: {
            width: panelWidth,
            height,
            layer: [
              {
                mark: { type: 'bar' },
                encoding: {
                  x: {
                    field: 'rowsLabel',
                    type: 'ordinal',
                    title: 'Input size (rows)',
                    sort: { field: 'rows', op: 'min' },
                    axis: { labelAngle: 0 },
                  },
                  xOffset: { field: 'journal', scale: journalScale },
                  y: txAxis,
                  color: {
                    field: 'journal',
                    type: 'nominal',
                    title: 'Journal',
                    scale: { ...journalScale, scheme: 'tableau10' },
                  },
                },
              },
              {
                mark: { type: 'text', dy: -5, fontSize: 9, color: '#333' },
                encoding: {
                  x: { field: 'rowsLabel', type: 'ordinal', sort: { field: 'rows', op: 'min' } },
                  xOffset: { field: 'journal', scale: journalScale },
                  y: { field: 'txPerSecond', type: 'quantitative' },
                  text: { field: 'shareLabel' },
                },
              },
            ],
          },
        },
        panelWidth * workerValues.length + 20 * (workerValues.length - 1),
      ),
    });
  }
  return specs;
}

const percent = (x) => `${Math.round(x * 100)}%`;

/** Bytes of peak RSS per added stored transaction, smallest to largest file, for each in-memory worker count. */
export function memorySlopes(results) {
  const byWorkers = new Map();
  for (const r of results.results.filter((r) => !r.journal)) {
    const list = byWorkers.get(r.workers) ?? [];
    list.push(r);
    byWorkers.set(r.workers, list);
  }
  const slopes = [];
  for (const [workers, list] of [...byWorkers].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => a.storedTransactions - b.storedTransactions);
    const first = list[0];
    const last = list.at(-1);
    const added = last.storedTransactions - first.storedTransactions;
    if (added <= 0) continue;
    slopes.push({ workers, bytesPerStored: (last.peakRssBytes - first.peakRssBytes) / added });
  }
  return slopes;
}

function slopeLines(results) {
  const slopes = memorySlopes(results);
  if (slopes.length === 0) return [];
  const parts = slopes.map(
    (s) => `${s.bytesPerStored.toFixed(1)} B at ${s.workers} worker${s.workers === 1 ? '' : 's'}`,
  );
  return [`Peak RSS added per added stored transaction, in memory, smallest to largest file: ${parts.join(', ')}.`];
}

/** vega-lite → vega → SVG, headless: no DOM, no canvas (text widths are estimated). */
export async function toSvg(vegaLiteSpec) {
  const { spec } = vl.compile(vegaLiteSpec);
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every chart this module can draw, by file name (the README links each). */
export const chartNames = ['throughput-vs-workers', 'throughput-vs-size', 'memory-vs-stored', 'journal-overhead'];

/** Renders every chart into outDir; returns the files written. */
export async function renderCharts(results, outDir = defaultChartsDir) {
  mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const { name, spec } of chartSpecs(results)) {
    const file = join(outDir, `${name}.svg`);
    writeFileSync(file, `${await toSvg(spec)}\n`);
    written.push(file);
  }
  return written;
}

/** Renders and says on stderr what was written, and which chart these results could not draw. */
export async function renderAndReport(results, outDir = defaultChartsDir) {
  const written = await renderCharts(results, outDir);
  for (const file of written) console.error(`wrote ${shownPath(file)}`);
  for (const name of chartNames)
    if (!written.some((file) => file.endsWith(`${name}.svg`)))
      console.error(
        `not rewritten: ${shownPath(join(outDir, `${name}.svg`))} (no run with --journal in these results)`,
      );
  return written;
}

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string', default: defaultChartsDir }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(
      'usage: node bench/charts.mjs [RESULTS.json] [--out DIR]   (defaults: bench/results/latest.json, docs/bench)',
    );
    return 0;
  }
  if (positionals.length > 1) throw new ResultsError(`one results file at most (got ${positionals.length})`);
  const results = loadResults(positionals[0] ?? defaultResultsPath);
  await renderAndReport(results, values.out);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    // parseArgs's own errors (unknown option, missing value) carry a code and a readable message.
    if (error instanceof ResultsError || error.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`charts: ${error.message}`);
      process.exitCode = 2;
    } else {
      // Not a mistake in the input: a bug here or in vega. One line; CHARTS_DEBUG=1 for the stack.
      console.error(`charts: ${process.env.CHARTS_DEBUG ? error.stack : (error.message ?? error)}`);
      process.exitCode = 1;
    }
  }
}
