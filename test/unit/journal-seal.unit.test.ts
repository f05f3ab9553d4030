/**
 * Sealing journal units (src/journal/seal.ts) and reading key files (src/journal/key-file.ts): any
 * unit opens to what was sealed; a changed byte anywhere (head, nonce, ciphertext, tag), other
 * associated data (kind, journal, partition, fields) or another key is refused with exit 2 naming
 * the key id, never opened as other bytes. Key files: exactly 64 hex digits, one line feed allowed.
 */
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalCorrupt } from '../../src/errors.js';
import { readKeyFile, readKeyFiles } from '../../src/journal/key-file.js';
import {
  journalKey,
  keyForJournal,
  keyIdOf,
  newJournalSealId,
  PartitionSeal,
  sealOverheadBytes,
  SealFailure,
  unitKeyId,
  type JournalKey,
} from '../../src/journal/seal.js';
import { createHash } from 'node:crypto';

const key1 = journalKey(randomBytes(32));
const key2 = journalKey(randomBytes(32));
const journal = { journalId: newJournalSealId(), keyId: key1.id };
const sealer = (partition = 0, key: JournalKey = key1, keys = [key1]) =>
  new PartitionSeal({ ...journal, keyId: key.id }, partition, key, keys);

function refused(open: () => unknown): SealFailure {
  let error: unknown;
  try {
    open();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SealFailure);
  expect(error).toBeInstanceOf(JournalCorrupt);
  expect((error as SealFailure).exitCode).toBe(2);
  return error as SealFailure;
}

describe('sealing a journal unit', () => {
  it('opens every unit to the bytes sealed, with its key id stored in the clear', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        fc.array(fc.integer({ min: -1, max: 2 ** 40 }), { maxLength: 7 }),
        (plain, fields) => {
          const sealed = sealer().seal('batch', plain, fields);
          expect(sealed.byteLength).toBe(plain.byteLength + sealOverheadBytes);
          expect(unitKeyId(sealed)).toBe(key1.id);
          expect([...sealer().open('batch', sealed, fields, 'unit')]).toEqual([...plain]);
        },
      ),
    );
  });

  it('never seals twice alike (a fresh nonce per unit)', () => {
    const plain = Buffer.alloc(64, 7);
    const a = sealer().seal('batch', plain, [1]);
    const b = sealer().seal('batch', plain, [1]);
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(9, 21).equals(b.subarray(9, 21))).toBe(false);
  });

  it('the key id is the first 8 bytes of SHA-256 of the key, in hex', () => {
    const key = Buffer.alloc(32, 1);
    expect(keyIdOf(key)).toBe(createHash('sha256').update(key).digest('hex').slice(0, 16));
  });

  it('refuses a unit with any one bit flipped, naming the key id', () => {
    const plain = randomBytes(100);
    const sealed = sealer().seal('batch', plain, [1, 2, 3]);
    // Every byte after the marker and key id: nonce, ciphertext, tag.
    for (let at = 9; at < sealed.byteLength; at++) {
      const copy = Buffer.from(sealed);
      copy[at]! ^= 1 << (at % 8);
      const error = refused(() => sealer().open('batch', copy, [1, 2, 3], 'journal J partition 0: the batch'));
      expect(error.message).toBe(
        `journal J partition 0: the batch fails authentication under key id ${key1.id} (damaged, edited, or moved from another place or journal)`,
      );
    }
  });

  it('refuses a unit whose marker or key id was changed, or that is too short to be sealed', () => {
    const sealed = sealer().seal('batch', randomBytes(10), [1]);
    const marker = Buffer.from(sealed);
    marker[0] = 0;
    expect(refused(() => sealer().open('batch', marker, [1], 'u')).message).toMatch(
      /is not sealed in a sealed journal/,
    );
    const keyId = Buffer.from(sealed);
    keyId[3]! ^= 1;
    expect(refused(() => sealer().open('batch', keyId, [1], 'u')).message).toMatch(
      /sealed with key id [0-9a-f]{16}, and none of the keys given has it/,
    );
    expect(refused(() => sealer().open('batch', sealed.subarray(0, sealOverheadBytes - 1), [1], 'u')).message).toMatch(
      /is not sealed/,
    );
  });

  it('refuses a unit opened with other associated data: fields, kind, partition, journal', () => {
    const sealed = sealer(3).seal('batch', randomBytes(50), [10, 20, 1, 11, 9, 100, 7]);
    const failsAuth = /fails authentication under key id/;
    expect(refused(() => sealer(3).open('batch', sealed, [10, 20, 1, 11, 9, 100, 8], 'u')).message).toMatch(failsAuth);
    expect(refused(() => sealer(3).open('accounts', sealed, [10, 20, 1, 11, 9, 100, 7], 'u')).message).toMatch(
      failsAuth,
    );
    expect(refused(() => sealer(4).open('batch', sealed, [10, 20, 1, 11, 9, 100, 7], 'u')).message).toMatch(failsAuth);
    const other = new PartitionSeal({ journalId: newJournalSealId(), keyId: key1.id }, 3, key1, [key1]);
    expect(refused(() => other.open('batch', sealed, [10, 20, 1, 11, 9, 100, 7], 'u')).message).toMatch(failsAuth);
    expect([...sealer(3).open('batch', sealed, [10, 20, 1, 11, 9, 100, 7], 'u')]).toHaveLength(50);
  });

  it('refuses a unit sealed with a key not given, naming its key id and the ids given', () => {
    const sealed = sealer(0, key2, [key2]).seal('txPart', randomBytes(20), [5, 0]);
    const error = refused(() => sealer().open('txPart', sealed, [5, 0], 'journal J partition 0: the snapshot'));
    expect(error.message).toBe(
      `journal J partition 0: the snapshot is sealed with key id ${key2.id}, and none of the keys given has it (key ids ${key1.id}); give that key with --journal-key-file`,
    );
    // Given both keys, it opens: a unit is opened by the key its id names.
    expect(sealer(0, key1, [key1, key2]).open('txPart', sealed, [5, 0], 'u').byteLength).toBe(20);
  });

  it('refuses a sealed journal given no key, or none with its key id; picks the journal key among several', () => {
    expect(refused(() => keyForJournal('journal J', journal, [])).message).toBe(
      `journal J: is sealed (encrypted at rest) with key id ${key1.id}; give its key with --journal-key-file FILE`,
    );
    expect(refused(() => keyForJournal('journal J', journal, [key2])).message).toMatch(
      new RegExp(
        `journal J: is sealed with key id ${key1.id}, and none of the keys given has it \\(key ids ${key2.id}\\)`,
      ),
    );
    expect(keyForJournal('journal J', journal, [key2, key1])).toBe(key1);
  });
});

describe('reading a key file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payments-keys-'));
  const hex = randomBytes(32).toString('hex');
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads 64 hex digits, with or without one line feed, in either case', () => {
    const plain = readKeyFile(file('plain', hex));
    expect(Buffer.from(plain.key).toString('hex')).toBe(hex);
    expect(readKeyFile(file('lf', `${hex}\n`)).id).toBe(plain.id);
    expect(readKeyFile(file('upper', hex.toUpperCase())).id).toBe(plain.id);
  });

  const cases: [string, string | Buffer, RegExp][] = [
    ['short', hex.slice(0, 62), /holds 62 hex digits, not 64/],
    ['long', `${hex}00`, /holds 66 hex digits, not 64/],
    ['non-hex', `${hex.slice(0, 63)}g`, /holds characters other than hex digits/],
    ['crlf', `${hex}\r\n`, /carriage return \(CRLF\)/],
    ['empty', '', /is empty/],
    ['newline only', '\n', /is empty/],
    ['two line feeds', `${hex}\n\n`, /holds characters other than hex digits/],
    ['spaces', ` ${hex}`, /holds characters other than hex digits/],
    ['binary', randomBytes(32), /hex digits/],
    ['huge', Buffer.alloc(10000, 0x61), /is too large/],
  ];
  it.each(cases)('refuses a %s file with exit 2, naming the file and never its content', (name, content, why) => {
    const path = file(name, content);
    let error: unknown;
    try {
      readKeyFile(path);
    } catch (e) {
      error = e;
    }
    expect((error as { exitCode: number }).exitCode).toBe(2);
    const message = (error as Error).message;
    expect(message).toMatch(why);
    expect(message.startsWith(`--journal-key-file ${path}: `)).toBe(true);
    expect(message).not.toContain(hex);
    expect(message).not.toContain(hex.slice(0, 16));
    expect(message.split('\n')).toHaveLength(1);
  });

  it('refuses a missing file with exit 2 naming it', () => {
    const path = join(dir, 'missing');
    expect(() => readKeyFile(path)).toThrow(new RegExp(`^--journal-key-file ${path}: cannot read the key file`));
  });

  it('reads several keys, repeated or as a comma list, in order, each once', () => {
    const a = file('a', `${hex}\n`);
    const other = randomBytes(32).toString('hex');
    const b = file('b', other);
    const keys = readKeyFiles([`${a},${b}`, a]);
    expect(keys.map((k) => Buffer.from(k.key).toString('hex'))).toEqual([hex, other]);
    expect(() => readKeyFiles([`${a},`])).toThrow(/an empty file name/);
  });
});
