// The project's reader alone (papaparse Parser driven per read), no routing: the parse ceiling.
import { openInput, readRowChunks } from '../dist/io/csv-reader.js';
const t = performance.now(); let rows = 0;
for await (const chunk of readRowChunks(await openInput(process.argv[2]))) rows += (chunk.kind === "text" ? chunk.lineCount : chunk.rows.length);
console.log(`reader alone: ${rows} rows ${((performance.now() - t) / 1000).toFixed(2)} s`);
