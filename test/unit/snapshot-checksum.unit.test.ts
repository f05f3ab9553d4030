/** The snapshot checksum covers the blob whether or not fields are stored beside it. */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { snapshotChecksum } from '../../src/journal/snapshot-codec.js';

describe('snapshotChecksum', () => {
  it('without fields is the CRC-32 of the blob (never a constant)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (blob) => {
        expect(snapshotChecksum(blob)).toBe(crc32(blob));
      }),
    );
    expect(snapshotChecksum(Buffer.from('a'))).not.toBe(snapshotChecksum(Buffer.from('b')));
  });

  it('changes with any one byte of the blob, and with each field', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (blob, at, flip, fields) => {
          const changed = Uint8Array.from(blob);
          changed[at % blob.length]! ^= flip;
          expect(snapshotChecksum(changed, ...fields)).not.toBe(snapshotChecksum(blob, ...fields));
          if (fields.length > 0)
            expect(snapshotChecksum(blob, ...fields.slice(0, -1), fields.at(-1)! + 1)).not.toBe(
              snapshotChecksum(blob, ...fields),
            );
        },
      ),
    );
  });
});
