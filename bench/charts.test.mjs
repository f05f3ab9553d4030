// Tests for the benchmark charts and the e2e script's argument parsing. node's own runner (the
// vitest suite covers src/ only): `node --test bench/`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  ResultsError,
  chartRows,
  chartSpecs,
  loadResults,
  memorySlopes,
  renderCharts,
  rowsLabel,
  validateResults,
  wrap,
} from './charts.mjs';
import { parseCount, parseList } from './e2e.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'payments-charts-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function result(rows, workers, journal, wallSeconds, peakRssMiB, storedTransactions) {
  return {
    rows,
    inputBytes: rows * 30,
    workers,
    journal,
    wallSeconds,
    runsWallSeconds: [wallSeconds],
    peakRssBytes: peakRssMiB * 2 ** 20,
    runsPeakRssBytes: [peakRssMiB * 2 ** 20],
    storedTransactions,
    journalBytes: journal ? rows * 40 : null,
    papaparseSeconds: 1,
  };
}

/** Two sizes, workers 1 and 2, in memory and journalled: every chart has its data. */
function sample(overrides = {}) {
  return {
    schemaVersion: 1,
    date: '2026-11-28T01:30:00.000Z',
    command: 'npm run bench:e2e -- --sizes 1M,2M --runs 1',
    commit: 'abc1234',
    machine: {
      cpus: 2,
      cpuModel: 'Test CPU 9000',
      memoryBytes: 24 * 2 ** 30,
      node: 'v20.20.2',
      loadAverage1m: 3.4,
      loadAverage1mAtEnd: 3.5,
    },
    runsPerConfig: 1,
    clients: 10000,
    results: [
      result(1_000_000, 1, false, 1.0, 100, 900_000),
      result(1_000_000, 2, false, 0.8, 120, 900_000),
      result(1_000_000, 1, true, 2.0, 130, 900_000),
      result(1_000_000, 2, true, 1.6, 150, 900_000),
      result(2_000_000, 1, false, 1.8, 116, 1_800_000),
      result(2_000_000, 2, false, 1.5, 138, 1_800_000),
      result(2_000_000, 1, true, 3.6, 150, 1_800_000),
      result(2_000_000, 2, true, 3.0, 170, 1_800_000),
    ],
    ...overrides,
  };
}

describe('validateResults', () => {
  it('accepts what bench/e2e.mjs writes', () => {
    assert.equal(validateResults(sample()).results.length, 8);
  });

  const rejects = (results, pattern) =>
    assert.throws(() => validateResults(results, 'r.json'), { name: 'ResultsError', message: pattern });
  it('names a schema version it does not know', () =>
    rejects(sample({ schemaVersion: 2 }), /^r\.json: schemaVersion 2, expected 1$/));
  it('names a missing caption field', () => rejects(sample({ command: '' }), /"command" must be a non-empty string/));
  it('refuses a date that is not one', () =>
    rejects(sample({ date: 'yesterday' }), /"date" "yesterday" is not a date/));
  it('refuses an empty result list', () => rejects(sample({ results: [] }), /"results" must be a non-empty array/));
  it('names the row and field of a bad measurement', () => {
    const bad = sample();
    bad.results[3].wallSeconds = 0;
    rejects(bad, /results\[3\]\.wallSeconds must be a positive number \(got 0\)/);
  });
  it('refuses a fractional row count', () => {
    const bad = sample();
    bad.results[0].rows = 1.5;
    rejects(bad, /results\[0\]\.rows must be a positive integer \(got 1\.5\)/);
  });
  it('refuses two measurements of the same configuration', () => {
    const bad = sample();
    bad.results.push({ ...bad.results[0] });
    rejects(bad, /two results for 1000000 rows, --workers 1$/);
  });
});

describe('loadResults', () => {
  it('says how to make the missing results file', () =>
    assert.throws(() => loadResults(join(tmp, 'none.json')), {
      name: 'ResultsError',
      message: /cannot read .*none\.json: ENOENT \(run npm run bench:e2e first/,
    }));
  it('names a file that is not JSON', () => {
    const file = join(tmp, 'broken.json');
    writeFileSync(file, '{"schemaVersion": 1,');
    assert.throws(() => loadResults(file), { name: 'ResultsError', message: /broken\.json is not valid JSON/ });
  });
});

describe('what the charts plot', () => {
  it('throughput is rows over the median wall time', () => {
    const row = chartRows(sample()).find((r) => r.rows === 2_000_000 && r.workers === 2 && r.journal === 'in memory');
    assert.equal(row.txPerSecond, 2_000_000 / 1.5);
    assert.equal(row.peakRssMiB, 138);
    assert.equal(row.storedMillions, 1.8);
  });
  it("a journalled run's share is the in-memory wall time over its own", () => {
    const rows = chartRows(sample());
    const journalled = rows.find((r) => r.rows === 1_000_000 && r.workers === 2 && r.journal === 'with --journal');
    assert.equal(journalled.shareOfInMemory, 0.8 / 1.6);
    assert.ok(rows.filter((r) => r.journal === 'in memory').every((r) => r.shareOfInMemory === null));
  });
  it('memory slope is added RSS over added stored transactions, per in-memory worker count', () => {
    assert.deepEqual(memorySlopes(sample()), [
      { workers: 1, bytesPerStored: (16 * 2 ** 20) / 900_000 },
      { workers: 2, bytesPerStored: (18 * 2 ** 20) / 900_000 },
    ]);
  });
  it('one size has no slope to report', () => {
    const one = sample();
    one.results = one.results.filter((r) => r.rows === 1_000_000);
    assert.deepEqual(memorySlopes(one), []);
  });
  it('names sizes as the README does', () => {
    assert.deepEqual([250_000, 1_000_000, 3_750_000, 37_500_000, 999].map(rowsLabel), [
      '250k',
      '1M',
      '3.75M',
      '37.5M',
      '999',
    ]);
  });
  it('wraps captions at spaces without losing a word', () => {
    const line = 'Command: npm run bench:e2e -- --sizes 250k,1M,2M,3.75M --runs 1 (one run per point, commit abc1234).';
    const wrapped = wrap([line, 'short'], 30);
    assert.equal(wrapped.join(' '), `${line} short`);
    assert.ok(
      wrapped.every((l) => l.length <= 30 || !l.includes(' ')),
      wrapped.join('\n'),
    );
  });
  it('leaves the journal chart out when no run had --journal', () => {
    const noJournal = sample();
    noJournal.results = noJournal.results.filter((r) => !r.journal);
    assert.deepEqual(
      chartSpecs(noJournal).map((c) => c.name),
      ['throughput-vs-workers', 'throughput-vs-size', 'memory-vs-stored'],
    );
  });
});

describe('renderCharts', () => {
  const out = join(tmp, 'svg');
  let files;
  const svg = (name) => readFileSync(join(out, `${name}.svg`), 'utf8');

  it('writes one SVG per chart', async () => {
    files = await renderCharts(sample(), out);
    assert.deepEqual(readdirSync(out).sort(), [
      'journal-overhead.svg',
      'memory-vs-stored.svg',
      'throughput-vs-size.svg',
      'throughput-vs-workers.svg',
    ]);
    assert.equal(files.length, 4);
    for (const file of files) assert.match(readFileSync(file, 'utf8'), /^<svg [^>]*width="\d+" height="\d+"/);
  });

  it('titles every axis with its unit', () => {
    for (const name of ['throughput-vs-workers', 'throughput-vs-size', 'journal-overhead'])
      assert.ok(svg(name).includes('Throughput (transactions per second)'), name);
    assert.ok(svg('throughput-vs-workers').includes('Worker threads (--workers)'));
    assert.ok(svg('throughput-vs-size').includes('Input file size (MB)'));
    assert.ok(svg('memory-vs-stored').includes('Peak RSS (MiB)'));
    assert.ok(svg('memory-vs-stored').includes('Stored transactions (millions)'));
    assert.ok(svg('journal-overhead').includes('Input size (rows)'));
  });

  it('captions every chart with the machine, the command and the date', () => {
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      assert.ok(text.includes('Test CPU 9000'), file);
      assert.ok(text.includes('--sizes 1M,2M'), file);
      assert.ok(text.includes('2026-11-28 01:30 UTC'), file);
      assert.ok(text.includes('load average 3.4 at start, 3.5 at end'), file);
    }
  });

  it('draws the data: one line per configuration, one bar per measurement, share labels on journal bars', () => {
    // vega draws each line series in a group of its own, classed mark-line.
    const lines = (name) => (svg(name).match(/class="mark-line role-mark /g) ?? []).length;
    assert.equal(lines('throughput-vs-size'), 4);
    assert.equal(lines('memory-vs-stored'), 4);
    assert.equal(lines('throughput-vs-workers'), 2);
    const bars = svg('journal-overhead').match(/aria-roledescription="bar"/g) ?? [];
    assert.equal(bars.length, 8);
    assert.ok(svg('journal-overhead').includes('>50%<'));
    assert.ok(svg('journal-overhead').includes('>--workers 2<'));
  });

  it('renders the same bytes from the same results', async () => {
    const again = join(tmp, 'again');
    await renderCharts(sample(), again);
    for (const name of readdirSync(out))
      assert.equal(readFileSync(join(again, name), 'utf8'), svg(name.replace('.svg', '')));
  });
});

describe('bench/charts.mjs on the command line', () => {
  const charts = (...args) =>
    spawnSync(process.execPath, [join(benchDir, 'charts.mjs'), ...args], { encoding: 'utf8' });

  it('renders a results file into --out', () => {
    const file = join(tmp, 'cli.json');
    writeFileSync(file, JSON.stringify(sample()));
    const dir = join(tmp, 'cli-out');
    const { status, stderr } = charts(file, '--out', dir);
    assert.equal(status, 0, stderr);
    assert.equal(readdirSync(dir).length, 4);
  });
  it('says which chart it could not redraw, and leaves that file alone', () => {
    const file = join(tmp, 'no-journal.json');
    const noJournal = sample();
    noJournal.results = noJournal.results.filter((r) => !r.journal);
    writeFileSync(file, JSON.stringify(noJournal));
    const dir = join(tmp, 'cli-out');
    const before = readFileSync(join(dir, 'journal-overhead.svg'), 'utf8');
    const { status, stderr } = charts(file, '--out', dir);
    assert.equal(status, 0, stderr);
    assert.match(stderr, /not rewritten: .*journal-overhead\.svg \(no run with --journal in these results\)/);
    assert.equal(readFileSync(join(dir, 'journal-overhead.svg'), 'utf8'), before);
    const memory = readFileSync(join(dir, 'memory-vs-stored.svg'), 'utf8');
    assert.equal((memory.match(/class="mark-line role-mark /g) ?? []).length, 2, 'in-memory lines only');
  });
  for (const [what, args, pattern] of [
    ['a missing file', [join(tmp, 'missing.json')], /^charts: cannot read .*missing\.json: ENOENT/],
    ['an unknown option', ['--bogus'], /^charts: Unknown option '--bogus'/],
    ['two files', ['a.json', 'b.json'], /^charts: one results file at most \(got 2\)/],
  ])
    it(`answers ${what} with one line and exit 2`, () => {
      const { status, stderr } = charts(...args);
      assert.equal(status, 2);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    });
});

describe('bench/e2e.mjs arguments', () => {
  it('reads counts with k and M suffixes', () => {
    assert.deepEqual(
      ['250k', '1M', '3.75M', '0.1M', '1000000'].map((s) => parseCount(s, '--sizes')),
      [250_000, 1_000_000, 3_750_000, 100_000, 1_000_000],
    );
  });
  for (const bad of ['0', '-1', '1.5', '2.5k5', 'abc', '', '1e6'])
    it(`refuses "${bad}"`, () =>
      assert.throws(() => parseCount(bad, '--sizes'), { message: /^--sizes: ".*" is not a positive whole number/ }));
  it('refuses a value listed twice', () =>
    assert.throws(() => parseList('1M,1000000', '--sizes'), { message: '--sizes: "1M,1000000" names a value twice' }));

  const e2e = (...args) => spawnSync(process.execPath, [join(benchDir, 'e2e.mjs'), ...args], { encoding: 'utf8' });
  for (const [what, args, pattern] of [
    ['--rows with --sizes', ['--rows', '1M', '--sizes', '2M'], /^bench:e2e: --rows and --sizes both given/],
    ['a bad worker list', ['--workers', '1,x'], /^bench:e2e: --workers: "x" is not a positive whole number/],
    ['an option without its value', ['--sizes'], /^bench:e2e: Option '--sizes <value>' argument missing/],
  ])
    it(`answers ${what} with one line and exit 2, before any work`, () => {
      const { status, stderr, stdout } = e2e(...args);
      assert.equal(status, 2);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.equal(stdout, '');
    });
});
