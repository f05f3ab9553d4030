// The project's reader alone (reads, cuts at line breaks, counts lines; the quote splitter only for
// quoted or non-ASCII text), without routing: how fast rows can be delivered at all.
import { openInput, readRowChunks } from '../dist/io/csv-reader.js';
const t = performance.now();
let rows = 0;
for await (const chunk of readRowChunks(await openInput(process.argv[2])))
  rows += chunk.kind === 'text' ? chunk.lineCount : chunk.rows.length;
console.log(`reader alone: ${rows} rows ${((performance.now() - t) / 1000).toFixed(2)} s`);
