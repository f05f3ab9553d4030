// tinybench suites, one per stage of the pipeline, on a generated dataset (run `npm run build`
// first; `npm run bench` does), so that a regression in any stage shows in its own line. Each
// reports tx/s = ops/s × rows per op, with tinybench's statistics. BENCH_ROWS (default 200000) and
// BENCH_MS (default 3000 per suite) size the run; BENCH_ONLY=<substring> runs the matching suites.
//
// Stages: reader (bytes → chunks of lines) · one-pass row scanner (bytes) · router (scan + checks + duplicate
// set + batches) · duplicate-tx set · transaction index (append, find) · the rules on numbers
// (decideCode fold) · the rules' object API · one worker's engine (applyBatch) · whole pipeline.
import { Bench } from 'tinybench';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  availableAfter,
  decide,
  decideCode,
  eventAmount,
  evolve,
  evolveTx,
  heldAfter,
  initialAccount,
  noRecord,
} from '../dist/domain/account.js';
import { columnsOf, capacityOf, duplicateFlag, typeMask } from '../dist/engine/batch.js';
import { ShardEngine, commandOf } from '../dist/engine/shard-engine.js';
import { packInfo } from '../dist/engine/tx-record-codec.js';
import { TxTable } from '../dist/engine/tx-table.js';
import { generateCsv, defaultMix } from '../dist/generate/generator.js';
import { formatUnits } from '../dist/domain/money.js';
import { openInput, readRowChunks } from '../dist/io/csv-reader.js';
import { scanStandardRow } from '../dist/io/row.js';
import { NullJournal } from '../dist/journal/null-journal.js';
import { processFile } from '../dist/pipeline/process-file.js';
import { ChunkRouter } from '../dist/pipeline/router.js';
import { TxIdSet } from '../dist/pipeline/tx-id-set.js';

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const only = process.env.BENCH_ONLY;
const text = [...generateCsv({ rows, clients: 1000, seed: 42, mix: defaultMix })].join('');
const body = text.slice(text.indexOf('\n') + 1); // without the header
const lineCount = rows;
// The reader hands the router each read's complete lines as bytes (reads of 512 KiB, cut at a line
// break); here the body is one such chunk of bytes, as a Buffer like the reader's.
const bodyBytes = Buffer.from(body, 'latin1');
const chunk = { kind: 'text', bytes: bodyBytes, firstLine: 2, lineCount, bytesRead: body.length };

// One routed batch holding every row (one shard), reused by the index, rules and engine suites.
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
const depositTxs = Uint32Array.from(commands.filter((c) => c.type === 'Deposit').map((c) => c.tx));
const dir = mkdtempSync(join(tmpdir(), 'payments-bench-'));
const file = join(dir, 'bench.csv');
writeFileSync(file, text);

const bench = new Bench({ time: Number(process.env.BENCH_MS ?? 3000), warmupTime: 500 });
const perOp = new Map();
const add = (name, rowsPerOp, fn) => {
  if (only && !name.includes(only)) return;
  perOp.set(name, rowsPerOp);
  bench.add(name, fn);
};

add('reader: file → chunks of lines (bytes)', rows, async () => {
  const source = await openInput(file);
  try {
    for await (const c of readRowChunks(source)) void c;
  } finally {
    await source.close();
  }
});
add('scanner: scanStandardRow over every line (bytes)', rows, () => {
  const row = { typeCode: 0, client: 0, tx: 0, amount: 0 };
  const n = bodyBytes.length;
  for (let at = 0; at < n;) {
    const end = scanStandardRow(bodyBytes, at, 44, 4, row);
    if (end < 0) throw new Error(`the generator's row at byte ${at} was refused by the one-pass path`);
    at = end + 1;
  }
});
add('router: scan + checks + duplicate set + batches, 1 shard', rows, () =>
  new ChunkRouter(1, 'bench', false).route(chunk),
);
add('router: the same, 2 shards', rows, () => new ChunkRouter(2, 'bench', false).route(chunk));
add('duplicate-tx set: testAndAdd every row', rows, () => {
  const set = new TxIdSet();
  for (let i = 0; i < batch.count; i++) set.testAndAdd(cols.txs[i]);
});
// The same ids scattered over the u32 range (a bijection: × 2654435761 mod 2^32), as random tx ids arrive.
const scatter = (tx) => Math.imul(tx, 2654435761) >>> 0;
add('duplicate-tx set: testAndAdd every row, random ids', rows, () => {
  const set = new TxIdSet();
  for (let i = 0; i < batch.count; i++) set.testAndAdd(scatter(cols.txs[i]));
});
add('tx index: put every deposit, then find each, random ids', depositTxs.length * 2, () => {
  const table = new TxTable();
  for (let i = 0; i < depositTxs.length; i++) table.put(scatter(depositTxs[i]), packInfo(i & 0xffff, false, 0), i + 1);
  for (let i = 0; i < depositTxs.length; i++) if (table.find(scatter(depositTxs[i])) === 0) throw new Error('lost');
});
add('tx index: put every deposit, then find each', depositTxs.length * 2, () => {
  const table = new TxTable();
  for (let i = 0; i < depositTxs.length; i++) table.put(depositTxs[i], packInfo(i & 0xffff, false, 0), i + 1);
  for (let i = 0; i < depositTxs.length; i++) if (table.find(depositTxs[i]) === 0) throw new Error('lost');
});
// Deposits and withdrawals in input order, as the engine stores them (two kinds of pages since
// withdrawals keep no amount), then a look-up of each (the deposit pages are asked first).
const storedTxs = commands.filter((c) => (c.type === 'Deposit' || c.type === 'Withdraw') && !c.duplicate);
const storedIds = Uint32Array.from(storedTxs, (c) => c.tx);
const storedInfos = Uint32Array.from(storedTxs, (c) => packInfo(c.client, c.type === 'Withdraw', 0));
add('tx index: put every deposit and withdrawal, then find each', storedIds.length * 2, () => {
  const table = new TxTable();
  for (let i = 0; i < storedIds.length; i++) table.put(storedIds[i], storedInfos[i], i + 1);
  for (let i = 0; i < storedIds.length; i++) if (table.find(storedIds[i]) !== storedInfos[i]) throw new Error('lost');
});
// The output's last step: every balance of 65,536 accounts as text (integer formatting).
const balances = Float64Array.from({ length: 3 * 65536 }, (_, i) => ((i * 7919 * 104729) % 1e12) - 3e11);
add('output: formatUnits, three balances of 65,536 accounts', balances.length, () => {
  let n = 0;
  for (let i = 0; i < balances.length; i++) n += formatUnits(balances[i]).length;
  if (n === 0) throw new Error('nothing formatted');
});
add('rules on numbers: decideCode fold over accounts in arrays', batch.count, () => {
  const available = new Float64Array(65536);
  const held = new Float64Array(65536);
  for (let i = 0; i < batch.count; i++) {
    const kind = cols.kinds[i] & typeMask;
    const client = cols.clients[i];
    // Disputes find no record here: the fold measures the rules, not the index.
    const code = decideCode(
      kind,
      client,
      cols.amounts[i],
      (cols.kinds[i] & duplicateFlag) !== 0,
      available[client],
      held[client],
      false,
      noRecord,
      false,
      0,
      0,
    );
    if (code < 0) continue;
    const moved = eventAmount(code, cols.amounts[i], 0);
    available[client] = availableAfter(code, available[client], moved);
    held[client] = heldAfter(code, held[client], moved);
  }
});
add('rules, object API: decide+evolve+evolveTx fold (replay, tests)', commands.length, () => {
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
add('one worker: ShardEngine.applyBatch (null journal)', batch.count, async () => {
  // The batch is read, not consumed, so it can be applied again to a fresh engine.
  await new ShardEngine(new NullJournal()).applyBatch(batch);
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
