/**
 * Encryption at rest for journals: every stored batch and snapshot part is sealed with AES-256-GCM
 * (node:crypto) when the journal is sealed. A sealed unit is
 *
 *   0xE5 | key id (8 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
 *
 * The key id is the first 8 bytes of SHA-256 of the key: it says which key sealed the unit without
 * revealing it. The nonce is 96 random bits per unit: a unit can be written again at the same
 * place with other bytes (a batch lost at a power loss and applied again, a snapshot rewritten, a
 * reseal), so a nonce derived from its place would repeat under one key; random nonces stay below
 * the 2^32 units per key that NIST SP 800-38D allows for them unless a journal grows past billions
 * of batches. The associated data binds the unit to its journal (a random id made when the journal
 * was sealed), its partition, its kind and every field stored beside it (lines, sequence numbers,
 * counts, input proof), so a unit moved to another journal, partition or position fails.
 *
 * The first byte never starts a compact batch (whose head bytes are below 100), which lets SQL tell
 * a sealed batch from a plain one (postgres/schema.ts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { JournalCorrupt } from '../errors.js';

export const sealMarker = 0xe5;
const keyIdBytes = 8;
const nonceBytes = 12;
const tagBytes = 16;
const headBytes = 1 + keyIdBytes + nonceBytes;
/** Bytes a sealed unit adds to its plain text. */
export const sealOverheadBytes = headBytes + tagBytes;
export const journalSealIdBytes = 16;

/** What a unit is: part of its associated data, so one kind never opens as another. */
export const unitKinds = { batch: 1, accounts: 2, txPart: 3 } as const;
export type UnitKind = keyof typeof unitKinds;

export interface JournalKey {
  /** 16 hex digits: the first 8 bytes of SHA-256 of the key. */
  readonly id: string;
  readonly key: Uint8Array;
}

/** The keys a command was given: the first seals new journals; any of them opens a unit it sealed. */
export type JournalKeyring = readonly JournalKey[];

/** A journal's seal as stored with it: its random id (associated data) and the key id it is sealed under. */
export interface JournalSealInfo {
  /** 32 hex digits. */
  readonly journalId: string;
  readonly keyId: string;
}

export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update(key).digest().subarray(0, keyIdBytes).toString('hex');
}

export function journalKey(key: Uint8Array): JournalKey {
  if (key.byteLength !== 32) throw new Error('invariant: a journal key is 32 bytes');
  return { id: keyIdOf(key), key };
}

export function newJournalSealId(): string {
  return randomBytes(journalSealIdBytes).toString('hex');
}

/**
 * A sealed journal that cannot be opened (no key, another key, a unit failing authentication):
 * exit 2. Apart from other damage: a torn-tail check must never drop a unit it cannot open.
 */
export class SealFailure extends JournalCorrupt {
  constructor(message: string) {
    super(message);
    this.name = 'SealFailure';
  }
}

export function sealError(message: string): SealFailure {
  return new SealFailure(message);
}

const keyList = (keys: JournalKeyring) => (keys.length === 0 ? 'none' : keys.map((k) => k.id).join(', '));

/**
 * Checks the keys a command was given against a journal's seal: exit 2 naming the journal (`where`)
 * and the key id when the journal is sealed and none of the keys is its key. Returns the key that
 * seals its new units (the journal's own: a journal is never sealed under two keys but by reseal).
 */
export function keyForJournal(where: string, seal: JournalSealInfo, keys: JournalKeyring | undefined): JournalKey {
  if (keys === undefined || keys.length === 0)
    throw sealError(
      `${where}: is sealed (encrypted at rest) with key id ${seal.keyId}; give its key with --journal-key-file FILE`,
    );
  const key = keys.find((k) => k.id === seal.keyId);
  if (key === undefined)
    throw sealError(
      `${where}: is sealed with key id ${seal.keyId}, and none of the keys given has it (key ids ${keyList(keys)}); give that key with --journal-key-file`,
    );
  return key;
}

/** Exit 2 for a writer given keys for a journal that is not sealed: it would end up half sealed. */
export function refuseKeyForPlainJournal(where: string): SealFailure {
  return sealError(
    `${where}: is not sealed, and a run must not seal only part of it; run without --journal-key-file (and PAYMENTS_JOURNAL_KEY_FILE), or seal it whole first with payments reseal --journal … --new-key-file FILE`,
  );
}

/** Seals and opens the units of one partition of one journal. */
export class PartitionSeal {
  private readonly journalId: Buffer;

  constructor(
    seal: JournalSealInfo,
    private readonly partition: number,
    /** The key new units are sealed with. */
    private readonly sealKey: JournalKey,
    /** Every key a unit may be sealed with (the seal key included). */
    private readonly keys: JournalKeyring,
  ) {
    this.journalId = Buffer.from(seal.journalId, 'hex');
    if (this.journalId.byteLength !== journalSealIdBytes) throw new Error('invariant: a journal seal id is 16 bytes');
  }

  get keyId(): string {
    return this.sealKey.id;
  }

  /** The associated data of a unit: kind, journal, partition and the fields stored beside it. */
  private associatedData(kind: UnitKind, fields: readonly number[]): Buffer {
    const ad = Buffer.alloc(1 + journalSealIdBytes + 4 + 8 * fields.length);
    ad[0] = unitKinds[kind];
    this.journalId.copy(ad, 1);
    ad.writeUInt32BE(this.partition, 1 + journalSealIdBytes);
    fields.forEach((f, i) => ad.writeDoubleBE(f, 1 + journalSealIdBytes + 4 + 8 * i));
    return ad;
  }

  seal(kind: UnitKind, plain: Uint8Array, fields: readonly number[]): Buffer {
    return sealUnit(this.sealKey, this.associatedData(kind, fields), plain);
  }

  /**
   * The plain text of a sealed unit, authenticated; exit 2 naming `what` (the journal, partition
   * and unit) and the key id when its key is not given or it fails authentication.
   */
  open(kind: UnitKind, sealed: Uint8Array, fields: readonly number[], what: string): Buffer {
    const unit = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const keyId = unitKeyId(unit);
    if (keyId === undefined) throw sealError(`${what} is not sealed in a sealed journal (damaged or edited)`);
    const key = this.keys.find((k) => k.id === keyId);
    if (key === undefined)
      throw sealError(
        `${what} is sealed with key id ${keyId}, and none of the keys given has it (key ids ${keyList(this.keys)}); give that key with --journal-key-file`,
      );
    try {
      return openUnit(key, this.associatedData(kind, fields), unit);
    } catch {
      throw sealError(
        `${what} fails authentication under key id ${keyId} (damaged, edited, or moved from another place or journal)`,
      );
    }
  }
}

/**
 * A sealed unit, journal or message: 0xE5 | key id (8 bytes) | random nonce (12) | ciphertext | tag (16),
 * AES-256-GCM with `associatedData` bound to it.
 */
export function sealUnit(key: JournalKey, associatedData: Buffer, plain: Uint8Array): Buffer {
  const nonce = randomBytes(nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(associatedData);
  const out = Buffer.allocUnsafe(headBytes + plain.byteLength + tagBytes);
  out[0] = sealMarker;
  out.write(key.id, 1, 'hex');
  nonce.copy(out, 1 + keyIdBytes);
  let at = headBytes;
  at += cipher.update(plain).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

/** The plain text of a sealed unit (unitKeyId names its key); throws when it fails authentication. */
export function openUnit(key: JournalKey, associatedData: Buffer, sealed: Uint8Array): Buffer {
  const unit = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key.key, unit.subarray(1 + keyIdBytes, headBytes));
  decipher.setAAD(associatedData);
  decipher.setAuthTag(unit.subarray(unit.byteLength - tagBytes));
  const body = decipher.update(unit.subarray(headBytes, unit.byteLength - tagBytes));
  const tail = decipher.final();
  return tail.byteLength === 0 ? body : Buffer.concat([body, tail]);
}

/** The key id a sealed unit names (for messages), or undefined for one that is not sealed. */
export function unitKeyId(unit: Uint8Array): string | undefined {
  if (unit.byteLength < sealOverheadBytes || unit[0] !== sealMarker) return undefined;
  return Buffer.from(unit.buffer, unit.byteOffset + 1, keyIdBytes).toString('hex');
}
