// Papaparse alone: Papa.parse streaming a file, every row delivered to a chunk callback, nothing
// else done. The reference the end-to-end benchmark divides by.
import Papa from 'papaparse';
import fs from 'node:fs';

const t = performance.now();
let rows = 0;
Papa.parse(fs.createReadStream(process.argv[2], { encoding: 'utf8', highWaterMark: 1 << 20 }), {
  chunk: (r) => {
    rows += r.data.length;
  },
  complete: () => console.log(`papaparse alone: ${rows} rows ${((performance.now() - t) / 1000).toFixed(2)} s`),
});
