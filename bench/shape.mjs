// Reshapes a generated CSV for the benchmarks (streaming, line by line):
//   --three-field   drop the empty 4th field of every other dispute/resolve/chargeback row
//   --random-tx     replace each tx id by (tx × 2654435761) mod 2^32: a bijection, so references
//                   still match, but ids arrive in random rather than increasing order
//   node bench/shape.mjs IN OUT [--three-field] [--random-tx]
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
const [input, output, ...flags] = process.argv.slice(2);
const threeField = flags.includes('--three-field');
const randomTx = flags.includes('--random-tx');
const out = createWriteStream(output);
let n = 0;
let buffer = '';
for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
  let text = line;
  if (n++ > 0) {
    const fields = line.split(',');
    if (randomTx && fields.length >= 3) {
      const tx = Number(fields[2]);
      if (Number.isSafeInteger(tx) && tx >= 0 && tx <= 0xffffffff)
        fields[2] = ` ${Number((BigInt(tx) * 2654435761n) % 4294967296n)}`;
    }
    if (threeField && fields.length === 4 && fields[3].trim() === '' && n % 2 === 0) fields.length = 3;
    text = fields.join(',');
  }
  buffer += text + '\n';
  if (buffer.length > 1 << 20) {
    if (!out.write(buffer)) await new Promise((r) => out.once('drain', r));
    buffer = '';
  }
}
out.end(buffer);
