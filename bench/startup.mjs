// Start-up time of the built CLI: the median wall time of N runs of `payments --help` and
// `payments --version`, beside a bare `node -e 0` for the machine's own floor. A benchmark, not a test:
// the figure depends on the machine and its load. Usage: node bench/startup.mjs [runs=21]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const runs = Number(process.argv[2] ?? 21);

function median(args) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: root });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rows = [
  ['node -e 0 (floor)', median(['-e', '0'])],
  // What the argument parser alone costs: the part of start-up this project does not control.
  ['import yargs alone', median(['--input-type=module', '-e', "await import('yargs')"])],
  ['payments --help', median([bin, '--help'])],
  ['payments --version', median([bin, '--version'])],
];
console.log(`median of ${runs} runs, node ${process.version}`);
for (const [name, ms] of rows) console.log(`${name.padEnd(20)} ${ms.toFixed(0).padStart(5)} ms`);
