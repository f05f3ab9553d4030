// The parsing thread's whole job without workers: read, scan, check and route every row into
// per-shard batches (buffers are recycled at once, as the workers would return them). Prints the
// thread's CPU time, the figure that bounds end-to-end throughput when the parser is the bottleneck.
//   node bench/route-only.mjs FILE [shards] [dist] [delimiter: one character, or tab]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const [file, shardsArg = '2', dist = new URL('../dist/', import.meta.url).pathname, delimiterArg = ','] =
  process.argv.slice(2);
const delimiter = delimiterArg === 'tab' ? '\t' : delimiterArg;
const load = (m) => import(pathToFileURL(resolve(dist, m)).href);
const { openInput, readRowChunks } = await load('io/csv-reader.js');
const { ChunkRouter } = await load('pipeline/router.js');
const router = new ChunkRouter(Number(shardsArg), file, false, delimiter);
const cpu = process.cpuUsage();
const t = performance.now();
let rows = 0;
for await (const chunk of readRowChunks(await openInput(file), { delimiter })) {
  const routed = router.route(chunk);
  rows += routed.dataRows;
  for (const batch of routed.batches) if (batch) router.recycle(batch.buffer);
}
const used = process.cpuUsage(cpu);
const wall = (performance.now() - t) / 1000;
const cpuS = (used.user + used.system) / 1e6;
console.log(
  `route only: ${rows} rows, wall ${wall.toFixed(2)} s, cpu ${cpuS.toFixed(2)} s, ${(rows / cpuS / 1e6).toFixed(2)} M rows/cpu-s`,
);
