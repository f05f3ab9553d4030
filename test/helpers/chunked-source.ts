/** An input source over bytes in memory that returns them in reads of the given sizes (cycling). */
import type { InputSource } from '../../src/io/csv-reader.js';

export function chunkedSource(bytes: Buffer, sizes: readonly number[], name = 'test'): InputSource {
  let at = 0;
  let turn = 0;
  return {
    name,
    sizeBytes: bytes.length,
    read: async (buffer, offset, length) => {
      const n = Math.min(length, bytes.length - at, sizes[turn++ % sizes.length]!);
      bytes.copy(buffer, offset, at, at + n);
      at += n;
      return n;
    },
    consumedBytes: () => at,
    close: async () => undefined,
  };
}
