/**
 * The journal formats (journal/format.ts) and the part count a snapshot row records
 * (checkSnapshotParts): a count no format stores, or one the partition's format never writes, is
 * damage with its own words, never read as an empty index.
 */
import { describe, expect, it } from 'vitest';
import { journalFormat, sealedVersionOf } from '../../src/journal/format.js';
import { checkSnapshotParts } from '../../src/journal/sqlite/recovery.js';

const damaged = (what: string) => new Error(what);
const format = (version: number) => journalFormat(version)!;

describe('journal formats', () => {
  it('are 3 to 6: columns then compact, each plain and sealed; 2 and 7 are not read', () => {
    expect([3, 4, 5, 6].map((v) => [format(v).codec, format(v).sealed, format(v).accountsOnlySnapshots])).toEqual([
      ['columns', false, false],
      ['columns', true, false],
      ['compact', false, true],
      ['compact', true, true],
    ]);
    expect(journalFormat(2)).toBeUndefined();
    expect(journalFormat(7)).toBeUndefined();
  });

  it('keep their codec when sealed: 3 becomes 4, 5 becomes 6, sealed ones stay', () => {
    expect([3, 4, 5, 6].map(sealedVersionOf)).toEqual([4, 4, 6, 6]);
    expect(() => sealedVersionOf(2)).toThrow(/invariant/);
  });
});

describe('a snapshot row’s part count', () => {
  it('matches the parts stored with it; -1 (the accounts alone) has none', () => {
    expect(() => checkSnapshotParts(2, 2, format(5), damaged)).not.toThrow();
    expect(() => checkSnapshotParts(0, 0, format(3), damaged)).not.toThrow();
    expect(() => checkSnapshotParts(-1, 0, format(5), damaged)).not.toThrow();
    expect(() => checkSnapshotParts(-1, 0, format(6), damaged)).not.toThrow();
  });

  it('is refused when the parts stored are not as many', () => {
    expect(() => checkSnapshotParts(2, 1, format(5), damaged)).toThrow('has 1 index parts, not 2');
    expect(() => checkSnapshotParts(-1, 1, format(5), damaged)).toThrow('has 1 index parts, not 0');
  });

  it('is refused below -1, or at -1 in a format that never stores the accounts alone', () => {
    expect(() => checkSnapshotParts(-2, 0, format(5), damaged)).toThrow('records -2 index parts');
    expect(() => checkSnapshotParts(-1, 0, format(3), damaged)).toThrow(
      'holds accounts alone, which journal format 3 never stores',
    );
    expect(() => checkSnapshotParts(-1, 0, format(4), damaged)).toThrow(/journal format 4 never stores/);
  });
});
