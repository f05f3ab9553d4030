// tinybench suites for the engine's parts, on a generated dataset (run `npm run build` first;
// `npm run bench` does). Each reports tx/s = ops/s × rows per op, with tinybench's statistics.
import { Bench } from 'tinybench';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide, evolve, evolveTx, initialAccount } from '../dist/domain/account.js';
import { ShardEngine, commandOf } from '../dist/engine/shard-engine.js';
import { generateCsv, defaultMix } from '../dist/generate/generator.js';
import { MemoryJournal } from '../dist/journal/memory-journal.js';
import { processFile } from '../dist/pipeline/process-file.js';
import { ChunkRouter } from '../dist/pipeline/router.js';
import { columnsOf, capacityOf, duplicateFlag, typeMask } from '../dist/pool/batch.js';

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const text = [...generateCsv({ rows, clients: 1000, seed: 42, mix: defaultMix })].join('');
const body = text.slice(text.indexOf('\n') + 1); // without the header
const lineCount = rows;
// The reader hands the router a read as pieces of at most 64 KiB, each ending at a line break.
const texts = [];
const lineCounts = [];
for (let start = 0; start < body.length;) {
  const end = start + 65536 >= body.length ? body.length : body.lastIndexOf('\n', start + 65535) + 1;
  texts.push(body.slice(start, end));
  lineCounts.push(texts.at(-1).split('\n').length - 1);
  start = end;
}
const chunk = { kind: 'text', texts, lineCounts, firstLine: 2, lineCount, bytesRead: body.length };

// One routed batch holding every row (one shard), reused by the decider and engine suites.
const batch = new ChunkRouter(1, 'bench', false).route(chunk).batches[0];
const cols = columnsOf(batch.buffer, capacityOf(batch.buffer));
const commands = Array.from({ length: batch.count }, (_, i) =>
  commandOf(
    cols.kinds[i] & typeMask,
    cols.clients[i],
    cols.txs[i],
    cols.amounts[i],
    (cols.kinds[i] & duplicateFlag) !== 0,
  ),
);
const dir = mkdtempSync(join(tmpdir(), 'payments-bench-'));
const file = join(dir, 'bench.csv');
writeFileSync(file, text);

const bench = new Bench({ time: Number(process.env.BENCH_MS ?? 3000), warmupTime: 500 });
const perOp = new Map();
const add = (name, rowsPerOp, fn) => {
  perOp.set(name, rowsPerOp);
  bench.add(name, fn);
};

add('parse+route: in-place scanner, 1 shard', rows, () => new ChunkRouter(1, 'bench', false).route(chunk));
add('parse+route: in-place scanner, 2 shards', rows, () => new ChunkRouter(2, 'bench', false).route(chunk));
add('decider alone: decide+evolve fold', commands.length, () => {
  const accounts = new Map();
  const txs = new Map();
  for (const cmd of commands) {
    const account = accounts.get(cmd.client) ?? initialAccount;
    const decision = decide(
      cmd,
      account,
      cmd.type === 'Deposit' || cmd.type === 'Withdraw' ? undefined : txs.get(cmd.tx),
    );
    if (!decision.ok) continue;
    accounts.set(cmd.client, evolve(account, decision.event));
    txs.set(cmd.tx, evolveTx(txs.get(cmd.tx), decision.event));
  }
});
add('one worker: ShardEngine.applyBatch (memory journal)', batch.count, () => {
  // The batch is read, not consumed, so it can be applied again to a fresh engine.
  new ShardEngine(new MemoryJournal()).applyBatch(batch);
});
add('whole pipeline: processFile, 2 workers', rows, async () => {
  await processFile({ input: file, workers: 2 });
});

await bench.run();
const table = bench.tasks.map((task) => {
  const r = task.result;
  const n = perOp.get(task.name);
  return {
    suite: task.name,
    'rows/op': n,
    'ops/s': r.throughput.mean.toFixed(2),
    'tx/s': Math.round(r.throughput.mean * n).toLocaleString('en-US'),
    '±rme %': r.throughput.rme.toFixed(1),
    'p50 ms': r.latency.p50.toFixed(2),
    'p99 ms': r.latency.p99.toFixed(2),
    samples: r.latency.samplesCount ?? r.latency.samples?.length,
  };
});
console.table(table);
