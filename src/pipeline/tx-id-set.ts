/**
 * Every tx id seen in a well-formed deposit or withdrawal, for SPEC's global `duplicate_tx` rule.
 * A small roaring bitmap: the 2^32 ids are split by their high 16 bits into containers that start as
 * sorted arrays of the low 16 bits and become 8 KiB bitmaps once dense. Sequential ids cost about
 * one bit each, scattered ids at most 2 bytes each, and no run ever allocates the full 512 MiB.
 */
const arrayContainerMax = 4096; // beyond this a bitmap (8 KiB) is smaller than the array
const bitmapWords = 65536 / 32;

type Container = { kind: 'array'; values: Uint16Array; size: number } | { kind: 'bitmap'; words: Uint32Array };

export class TxIdSet {
  // Indexed by the high 16 bits directly (a Map's hashing cost more than the container's work).
  private readonly containers: (Container | undefined)[] = new Array<Container | undefined>(65536).fill(undefined);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `tx`; returns true when it was already present. */
  testAndAdd(tx: number): boolean {
    const high = tx >>> 16;
    const low = tx & 0xffff;
    let container = this.containers[high];
    if (container === undefined) {
      container = { kind: 'array', values: new Uint16Array(16), size: 0 };
      this.containers[high] = container;
    }
    if (container.kind === 'bitmap') {
      const word = low >>> 5;
      const bit = 1 << (low & 31);
      if (container.words[word]! & bit) return true;
      container.words[word]! |= bit;
      this.count++;
      return false;
    }
    const { values, size } = container;
    // Ids mostly ascend: check the tail before searching.
    let at: number;
    if (size === 0 || values[size - 1]! < low) at = size;
    else {
      at = lowerBound(values, size, low);
      if (at < size && values[at] === low) return true;
    }
    if (size === arrayContainerMax) {
      this.containers[high] = toBitmap(values, size, low);
      this.count++;
      return false;
    }
    let target = values;
    if (size === values.length) {
      target = new Uint16Array(Math.min(arrayContainerMax, values.length * 2));
      target.set(values.subarray(0, at));
      target.set(values.subarray(at, size), at + 1);
    } else {
      target.copyWithin(at + 1, at, size);
    }
    target[at] = low;
    container.values = target;
    container.size = size + 1;
    this.count++;
    return false;
  }

  get bytes(): number {
    let bytes = 0;
    for (const c of this.containers) if (c) bytes += c.kind === 'array' ? c.values.byteLength : c.words.byteLength;
    return bytes;
  }
}

function lowerBound(values: Uint16Array, size: number, key: number): number {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function toBitmap(values: Uint16Array, size: number, extra: number): Container {
  const words = new Uint32Array(bitmapWords);
  for (let i = 0; i < size; i++) words[values[i]! >>> 5]! |= 1 << (values[i]! & 31);
  words[extra >>> 5]! |= 1 << (extra & 31);
  return { kind: 'bitmap', words };
}
