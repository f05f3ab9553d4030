/**
 * Proof of what input a journal applied. The reader keeps a running CRC-32 of the input text (the
 * decompressed bytes for gzip, a UTF-8 byte order mark included) over every read it hands on; each
 * committed journal batch stores the proof of the read its rows came from: "the input's first `end`
 * bytes have CRC-32 `crc`". A resumed run hashes the input again up to the proofs, before it
 * commits anything new: rows it skips (checked against their records, never applied again) are
 * then proven to be the bytes the earlier run applied, wherever they sit. The byte count is half
 * of the proof: an edit that changes the length is always caught, one that keeps it is missed with
 * a chance of 2^-32 (and the records are still compared row by row).
 */
import { proofReadBytes } from '../constants.js';
import { crc32 } from 'node:zlib';
import { JournalCorrupt } from '../errors.js';
import { openInput } from './input-source.js';

export interface InputProof {
  /** Bytes of input text before the proof's point (a line break, or the end of the input). */
  readonly end: number;
  /** CRC-32 of those bytes. */
  readonly crc: number;
}

/** One partition's proofs, in commit order (one per committed batch; undefined when none was stored). */
export interface PartitionProofs {
  readonly partition: number;
  readonly proofs: readonly (InputProof | undefined)[];
}

/** The running proof of the text read so far. */
export class ProofTracker {
  end = 0;
  crc = 0;

  add(bytes: Uint8Array): void {
    this.end += bytes.length;
    this.crc = crc32(bytes, this.crc);
  }

  get proof(): InputProof {
    return { end: this.end, crc: this.crc };
  }
}

interface Checkpoint {
  readonly end: number;
  readonly crc: number;
  readonly partition: number;
}

/**
 * Checks every proof a journal's partitions stored against the input at `path`, in one read up to
 * the furthest one. Throws JournalCorrupt (exit 2) naming the journal, the partition and the lines
 * where the input differs; a batch stored without a proof cannot be trusted either.
 */
export async function verifyInputProofs(
  path: string,
  journal: string,
  partitions: readonly PartitionProofs[],
): Promise<void> {
  const checkpoints: Checkpoint[] = [];
  for (const { partition, proofs } of partitions)
    for (const proof of proofs) {
      if (proof === undefined)
        throw new JournalCorrupt(
          `journal ${journal} partition ${partition}: a batch without an input checksum, so the input it applied cannot be proven; use a new --journal for this run`,
        );
      checkpoints.push({ ...proof, partition });
    }
  if (checkpoints.length === 0) return;
  checkpoints.sort((a, b) => a.end - b.end);
  const source = await openInput(path);
  const buffer = Buffer.allocUnsafe(proofReadBytes);
  let at = 0; // bytes hashed
  let crc = 0;
  let proven = 0; // end of the last proof that held
  try {
    for (const point of checkpoints) {
      while (at < point.end) {
        const n = await source.read(buffer, 0, Math.min(buffer.length, point.end - at));
        if (n === 0) break;
        crc = crc32(buffer.subarray(0, n), crc);
        at += n;
      }
      if (at !== point.end || crc !== point.crc) throw await changed(path, journal, point, proven);
      proven = point.end;
    }
  } finally {
    await source.close();
  }
}

/** The failure for a proof that does not hold: the lines between the last proof that held and it. */
async function changed(path: string, journal: string, point: Checkpoint, proven: number): Promise<JournalCorrupt> {
  const [from, to] = await linesAt(path, [proven, point.end]);
  const where = from.lines + 1 >= to.lines ? `line ${from.lines + 1}` : `lines ${from.lines + 1}-${to.lines}`;
  return new JournalCorrupt(
    `journal ${journal} partition ${point.partition}: the input changed since the journal was written ` +
      `(${path} differs from what it applied in ${where}); restore the input, or use a new --journal for a changed input`,
  );
}

/**
 * The lines of `path` that bytes [0, offset) touch, for each offset (ascending): line feeds before
 * the offset, plus one for a line begun and not ended. Only for messages: read again, not kept.
 */
async function linesAt(path: string, offsets: readonly number[]): Promise<{ lines: number }[]> {
  const source = await openInput(path);
  const buffer = Buffer.allocUnsafe(proofReadBytes);
  const found: { lines: number }[] = [];
  let at = 0;
  let feeds = 0;
  let lastByte = 0x0a;
  try {
    for (const offset of offsets) {
      while (at < offset) {
        const n = await source.read(buffer, 0, Math.min(buffer.length, offset - at));
        if (n === 0) break;
        for (let i = buffer.indexOf(0x0a); i >= 0 && i < n; i = buffer.indexOf(0x0a, i + 1)) feeds++;
        lastByte = buffer[n - 1]!;
        at += n;
      }
      found.push({ lines: feeds + (at > 0 && lastByte !== 0x0a ? 1 : 0) });
    }
  } finally {
    await source.close();
  }
  return found;
}
