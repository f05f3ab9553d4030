/**
 * The input source: a file that changes while it is read is an error before its last bytes are
 * used (shrunk, grown, replaced), and gzip is recognised by its magic bytes, not its name.
 */
import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openInput, type InputSource } from '../../src/io/input-source.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-source-'));
const content = 'type,client,tx,amount\n' + 'deposit,1,1,5\n'.repeat(1000);

/** Reads the rest of a source in small reads; the bytes, or the error's message. */
async function readAll(source: InputSource, size = 100): Promise<string> {
  const parts: Buffer[] = [];
  const buffer = Buffer.alloc(size);
  try {
    for (let n = await source.read(buffer, 0, size); n > 0; n = await source.read(buffer, 0, size))
      parts.push(Buffer.from(buffer.subarray(0, n)));
    return Buffer.concat(parts).toString();
  } catch (error) {
    return (error as Error).message;
  } finally {
    await source.close();
  }
}

async function changedMidway(change: (path: string) => void): Promise<string> {
  const path = join(tmp(), 'in.csv');
  writeFileSync(path, content);
  const source = await openInput(path);
  await source.read(Buffer.alloc(500), 0, 500);
  change(path);
  return readAll(source);
}

describe('openInput: a file that changes while it is read', () => {
  it('reads an unchanged file whole', async () => {
    const path = join(tmp(), 'in.csv');
    writeFileSync(path, content);
    expect(await readAll(await openInput(path))).toBe(content);
  });
  it('shrunk: input changed', async () =>
    expect(await changedMidway((p) => truncateSync(p, 2000))).toMatch(/in\.csv: input changed while it was read$/));
  it('shrunk below what was already read: input changed', async () =>
    expect(await changedMidway((p) => truncateSync(p, 10))).toMatch(/input changed while it was read$/));
  it('grown: input changed', async () =>
    expect(await changedMidway((p) => appendFileSync(p, 'deposit,2,2,5\n'))).toMatch(
      /input changed while it was read$/,
    ));
  it('replaced by a rename: input changed', async () =>
    expect(
      await changedMidway((p) => {
        writeFileSync(`${p}.new`, content);
        renameSync(`${p}.new`, p);
      }),
    ).toMatch(/input changed while it was read$/));
});

describe('openInput: gzip by magic bytes', () => {
  it('inflates gzip whatever the name; leaves other bytes alone', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'data.csv'), gzipSync(content));
    expect(await readAll(await openInput(join(dir, 'data.csv')), 7)).toBe(content);
    writeFileSync(join(dir, 'one.csv'), '\x1f');
    expect(await readAll(await openInput(join(dir, 'one.csv')))).toBe('\x1f');
    writeFileSync(join(dir, 'empty.csv'), '');
    expect(await readAll(await openInput(join(dir, 'empty.csv')))).toBe('');
  });
  it('two concatenated gzip members are one text', async () => {
    const path = join(tmp(), 'two.gz');
    writeFileSync(path, Buffer.concat([gzipSync('a,b\n'), gzipSync('c,d\n')]));
    expect(await readAll(await openInput(path))).toBe('a,b\nc,d\n');
  });
  it("inflates in pieces up to a file read (512 KiB), not zlib's 16 KiB chunks", async () => {
    const path = join(tmp(), 'big.gz');
    const big = 'deposit,1,1,5\n'.repeat(100_000); // 1.4 MB
    writeFileSync(path, gzipSync(big));
    const source = await openInput(path);
    try {
      const buffer = Buffer.alloc(512 << 10);
      const sizes: number[] = [];
      for (let n = await source.read(buffer, 0, buffer.length); n > 0; n = await source.read(buffer, 0, buffer.length))
        sizes.push(n);
      expect(sizes).toEqual([512 << 10, 512 << 10, big.length - (1024 << 10)]);
    } finally {
      await source.close();
    }
  });
  it('corrupt gzip: an error naming the file', async () => {
    const path = join(tmp(), 'bad.gz');
    writeFileSync(path, Buffer.concat([gzipSync(content).subarray(0, 40)]));
    expect(await readAll(await openInput(path))).toMatch(/bad\.gz: the gzip data is truncated or corrupt \(/);
  });
});
