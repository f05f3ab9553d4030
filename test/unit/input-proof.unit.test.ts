/**
 * Input proofs: every chunk the reader hands on carries the proof of the text read so far (its
 * bytes and their CRC-32, a byte order mark included), at a line break or the end of the input,
 * however the input is cut into reads; and the check of stored proofs against a file names the
 * lines where the file differs.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readRowChunks } from '../../src/io/csv-reader.js';
import { verifyInputProofs } from '../../src/io/input-proof.js';
import { JournalCorrupt } from '../../src/errors.js';
import { chunkedSource } from '../helpers/chunked-source.js';

const source = chunkedSource;

const piece = fc.constantFrom('deposit', '1', '2.5', ' ', ',', '\n', '\r\n', '"', 'é', '𝄞');
const text = fc
  .tuple(fc.boolean(), fc.array(piece, { maxLength: 60 }))
  .map(([bom, parts]) => (bom ? '\uFEFF' : '') + parts.join(''));

describe('the reader proves what it read', () => {
  it('each chunk: the CRC-32 of the input up to a line break (or the end); the last covers every byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
        async (t, sizes) => {
          const bytes = Buffer.from(t, 'utf8');
          let end = 0;
          try {
            for await (const chunk of readRowChunks(source(bytes, sizes))) {
              const { proof } = chunk;
              expect(proof.end).toBeGreaterThanOrEqual(end);
              expect(proof.end === bytes.length || bytes[proof.end - 1] === 0x0a).toBe(true);
              expect(proof.crc).toBe(crc32(bytes.subarray(0, proof.end)));
              end = proof.end;
            }
          } catch {
            return; // an unterminated quote: nothing is proven for rows never handed on
          }
          if (/[^\s\uFEFF]/.test(t)) expect(end).toBe(bytes.length);
        },
      ),
      { numRuns: 800 },
    );
  });
});

describe('verifyInputProofs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payments-proof-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const lines = Array.from({ length: 50 }, (_, i) => `deposit,${i},${i},1\n`).join('');
  const bytes = Buffer.from(lines);
  const proofAt = (lineCount: number) => {
    let end = 0;
    for (let i = 0; i < lineCount; i++) end = bytes.indexOf(0x0a, end) + 1;
    return { end, crc: crc32(bytes.subarray(0, end)) };
  };

  it('passes the input the proofs were made of, plain or gzip', async () => {
    const plain = join(dir, 'plain.csv');
    const gz = join(dir, 'input.csv.gz');
    writeFileSync(plain, bytes);
    writeFileSync(gz, gzipSync(bytes));
    const partitions = [
      { partition: 0, proofs: [proofAt(10), proofAt(30)] },
      { partition: 1, proofs: [proofAt(20), proofAt(50)] },
    ];
    await verifyInputProofs(plain, 'J', partitions);
    await verifyInputProofs(gz, 'J', partitions);
  });

  it('a changed byte: JournalCorrupt naming the journal, the partition and the lines between two proofs', async () => {
    const changed = Buffer.from(bytes);
    changed[proofAt(24).end + 3] = 0x44; // in line 25
    const path = join(dir, 'changed.csv');
    writeFileSync(path, changed);
    const check = verifyInputProofs(path, 'J', [
      { partition: 0, proofs: [proofAt(10), proofAt(30)] },
      { partition: 1, proofs: [proofAt(20), proofAt(50)] },
    ]);
    await expect(check).rejects.toThrow(JournalCorrupt);
    await expect(check).rejects.toThrow(/^journal J partition 0: the input changed .* in lines 21-30\)/);
  });

  it('an input shorter than a proof, and a batch without a proof, are refused', async () => {
    const path = join(dir, 'short.csv');
    writeFileSync(path, bytes.subarray(0, proofAt(5).end));
    await expect(verifyInputProofs(path, 'J', [{ partition: 2, proofs: [proofAt(10)] }])).rejects.toThrow(
      /partition 2: the input changed .* in lines 1-5\)/,
    );
    await expect(verifyInputProofs(path, 'J', [{ partition: 3, proofs: [undefined] }])).rejects.toThrow(
      /partition 3: a batch without an input checksum/,
    );
  });
});
