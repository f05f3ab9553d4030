// The floor: Node reading the file in 1 MiB reads and counting line feeds, nothing else.
//   node bench/floor.mjs FILE
import { open } from 'node:fs/promises';
const file = await open(process.argv[2]);
const buffer = Buffer.allocUnsafe(1 << 20);
let lines = 0;
for (;;) {
  const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
  if (bytesRead === 0) break;
  for (let at = buffer.indexOf(10); at >= 0 && at < bytesRead; at = buffer.indexOf(10, at + 1)) lines++;
}
await file.close();
console.log(`floor: ${lines} lines`);
