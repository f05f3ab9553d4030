/**
 * The journal directory's manifest (manifest.json): the format version, the shard count its
 * partitions were written with, and a fingerprint of the input, so that a journal is never used
 * with another input file or by a program that cannot read it. It also records the last input line
 * that every shard had applied, for replay of an unfinished run.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { inputSampleBytes, workersMax } from '../constants.js';
import { describeError, JournalCorrupt, usageError } from '../errors.js';
import { manifestFormat } from '../journal-files.js';
import {
  journalFormat,
  journalFormatVersion,
  manifestFileName,
  newestJournalFormatVersion,
  oldestJournalFormatVersion,
  partitionPrefix,
  sealedJournalFormatVersion,
} from './format.js';
import {
  keyForJournal,
  newJournalSealId,
  refuseKeyForPlainJournal,
  type JournalKeyring,
  type JournalSealInfo,
} from './seal.js';

export interface InputFingerprint {
  size: number;
  headCrc: number;
  tailCrc: number;
  /**
   * CRC-32 of every byte, when taken: a cluster's submit takes it (its batches carry no input
   * proofs to show, as a local run's do, that the bytes between the first and the last are the same).
   */
  crc?: number;
}

export interface Manifest {
  format: 'payments-journal';
  formatVersion: number;
  shards: number;
  input: { name: string } & InputFingerprint;
  /** Every input line up to here has been applied by every shard. */
  committedLine: number;
  complete: boolean;
  createdAt: string;
  updatedAt: string;
  /** A sealed journal's (format 4): its random id and the key id its units are sealed with. */
  seal?: JournalSealInfo;
  /**
   * Each partition's last sequence number when the run finished: `replay` and `inspect` of a
   * finished journal refuse a partition file that holds another number of records (restored from
   * an older copy, emptied, or taken from another journal). Absent in journals of earlier releases.
   */
  ends?: number[];
}

const manifestFile = manifestFileName;

/**
 * A journal's input must be a regular file: a resume reads it again from the start, and checks it
 * against what the journal applied. A pipe or a device gives other bytes (or none) the second time.
 */
export function refuseUnrereadable(path: string, info: { isFile(): boolean; isFIFO(): boolean }): void {
  if (info.isFile()) return;
  const what = info.isFIFO() ? 'a pipe (FIFO)' : 'not a regular file';
  throw usageError(
    `${path}: is ${what}, which cannot be read again to resume; a journal needs a regular input file (copy the data to a file first)`,
  );
}

/**
 * Refuses, before anything reads it, an input a resume could not read again. A missing or
 * unreadable one is left to openInput, which names what is wrong with it.
 */
export async function checkRereadable(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info !== undefined && !info.isDirectory()) refuseUnrereadable(path, info);
}

/**
 * The input as a run reads it: its size and CRC-32s of its first and last bytes. A delimiter other
 * than `,` is folded into the first CRC, since the same bytes read with another delimiter are
 * other rows: a journal resumed with another -d would keep the first reading's balances beside
 * the second reading's rejections. A `,` run's fingerprint is the bytes' alone, as it always was.
 */
export async function fingerprint(path: string, delimiter = ','): Promise<InputFingerprint> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    refuseUnrereadable(path, info);
    const { size } = info;
    const read = async (position: number) => {
      const length = Math.min(inputSampleBytes, size - position);
      const buffer = Buffer.alloc(Math.max(0, length));
      if (length > 0) await handle.read(buffer, 0, length, position);
      return crc32(buffer);
    };
    const head = await read(0);
    const headCrc = delimiter === ',' ? head : crc32(Buffer.from(`delimiter ${delimiter}`), head);
    return { size, headCrc, tailCrc: await read(Math.max(0, size - inputSampleBytes)) };
  } finally {
    await handle.close();
  }
}

/** The fingerprint with the CRC-32 of the whole input (one more read of it). */
export async function fingerprintWhole(path: string): Promise<InputFingerprint> {
  const print = await fingerprint(path);
  let crc = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) crc = crc32(chunk as Buffer, crc);
  return { ...print, crc };
}

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, manifestFile);
  if (!existsSync(path)) {
    if (existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(partitionPrefix))) {
      throw new JournalCorrupt(`${dir}: journal partitions without ${manifestFile}; not a journal this program wrote`);
    }
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new JournalCorrupt(`${path}: damaged journal manifest (${describeError(error)})`);
  }
  return validateManifest(parsed, path);
}

const isWhole = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

/** The manifest's schema, with limits: anything else is JournalCorrupt (exit 2) naming the field. */
export function validateManifest(value: unknown, path: string): Manifest {
  const bad = (field: string, want: string, got: unknown) =>
    new JournalCorrupt(
      `${path}: damaged journal manifest: ${field} must be ${want} (got ${JSON.stringify(got) ?? 'nothing'})`,
    );
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('the manifest', 'an object', value);
  const m = value as Record<string, unknown>;
  if (m.format !== manifestFormat) throw new JournalCorrupt(`${path}: not a payments journal manifest`);
  if (!isWhole(m.formatVersion, 1, Number.MAX_SAFE_INTEGER))
    throw bad('formatVersion', 'a whole number', m.formatVersion);
  if (m.formatVersion > newestJournalFormatVersion)
    throw new JournalCorrupt(
      `${path}: written by a newer version (journal format ${m.formatVersion}; this program reads ${oldestJournalFormatVersion} to ${newestJournalFormatVersion})`,
    );
  const format = journalFormat(m.formatVersion);
  if (format === undefined)
    throw new JournalCorrupt(
      `${path}: journal format ${m.formatVersion}, an older version's (its batches carry no input checksum, so this program cannot prove a resume); this program reads ${oldestJournalFormatVersion} to ${newestJournalFormatVersion}: use the version that wrote it, or a new --journal directory`,
    );
  if (!isWhole(m.shards, 1, workersMax)) throw bad('shards', `a whole number from 1 to ${workersMax}`, m.shards);
  const input = m.input as Record<string, unknown> | undefined;
  if (typeof input !== 'object' || input === null) throw bad('input', 'an object', input);
  if (typeof input.name !== 'string') throw bad('input.name', 'a string', input.name);
  if (!isWhole(input.size, 0, Number.MAX_SAFE_INTEGER)) throw bad('input.size', 'a whole number ≥ 0', input.size);
  for (const field of ['headCrc', 'tailCrc'] as const)
    if (!isWhole(input[field], 0, 0xffffffff)) throw bad(`input.${field}`, 'a 32-bit checksum', input[field]);
  if (!isWhole(m.committedLine, 0, Number.MAX_SAFE_INTEGER))
    throw bad('committedLine', 'a whole number ≥ 0', m.committedLine);
  if (typeof m.complete !== 'boolean') throw bad('complete', 'true or false', m.complete);
  if (
    m.ends !== undefined &&
    !(
      Array.isArray(m.ends) &&
      m.ends.length <= workersMax &&
      m.ends.every((n) => isWhole(n, 0, Number.MAX_SAFE_INTEGER))
    )
  )
    // Its length is not checked against `shards`: a shard count edited is named by the partitions.
    throw bad('ends', 'a list of whole numbers ≥ 0, one for each partition', m.ends);
  for (const field of ['createdAt', 'updatedAt'] as const)
    if (typeof m[field] !== 'string') throw bad(field, 'a date', m[field]);
  if (format.sealed) {
    const seal = m.seal as Record<string, unknown> | undefined;
    if (typeof seal !== 'object' || seal === null)
      throw bad('seal', `an object (journal format ${m.formatVersion} is sealed)`, seal);
    if (typeof seal.journalId !== 'string' || !/^[0-9a-f]{32}$/.test(seal.journalId))
      throw bad('seal.journalId', '32 hex digits', seal.journalId);
    if (typeof seal.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(seal.keyId))
      throw bad('seal.keyId', '16 hex digits', seal.keyId);
  } else if (m.seal !== undefined) throw bad('seal', `absent in journal format ${m.formatVersion}`, m.seal);
  return m as unknown as Manifest;
}

/**
 * A cluster run's journal CRC once a submit saw its input change while reading it: no CRC-32 is
 * negative, so no file matches it. The run's stream then holds rows of no one file (what this
 * submit read, beside what earlier or concurrent submits of the run read), so it is taken for none.
 */
export const inputChangedWhileRead = -1;

/** A finished journal's partition must hold the records it finished with (see Manifest.ends). */
export function checkFinishedPartition(manifest: Manifest, shard: number, lastSeq: number, where: string): void {
  const end = manifest.complete ? manifest.ends?.[shard] : undefined;
  if (end === undefined || end === lastSeq) return;
  throw new JournalCorrupt(
    `${where}: holds ${lastSeq} records, but the journal finished with ${end} in it: the file is not the one this journal finished with (restored from an older copy, emptied, or taken from another journal)`,
  );
}

/** Why a journal written for `was` cannot go on with `now`, or undefined when it can. */
export function inputDiffers(was: { name: string } & InputFingerprint, now: InputFingerprint): string | undefined {
  if (was.crc === inputChangedWhileRead)
    return `its input (${was.name}) changed while a submit read it, so its batches are of no one file`;
  if (was.size === now.size && was.headCrc === now.headCrc && was.tailCrc === now.tailCrc) {
    if (was.crc === undefined || now.crc === undefined || was.crc === now.crc) return undefined;
    return `this journal was written for a different input (${was.name}, ${was.size} bytes: the same size, first and last bytes, other bytes between)`;
  }
  // Same size and last bytes, other first bytes: most often the same file read with another -d.
  const how =
    was.size === now.size && was.tailCrc === now.tailCrc
      ? ", or for this file read with another delimiter (-d; a journal of a run not read with ',' begun by an earlier release is refused too)"
      : '';
  return `this journal was written for a different input (${was.name}, ${was.size} bytes)${how}`;
}

/**
 * Opens the journal of a run: checks an existing one against the input and the keys, or starts a
 * new one (sealed when keys are given, under the first).
 */
export async function openRunManifest(
  dir: string,
  inputPath: string,
  shards: number,
  keys: JournalKeyring = [],
  delimiter = ',',
): Promise<{ manifest: Manifest; resumed: boolean }> {
  const input = { name: inputPath, ...(await fingerprint(inputPath, delimiter)) };
  const existing = await readManifest(dir);
  if (existing) {
    const differs = inputDiffers(existing.input, input);
    if (differs)
      throw new JournalCorrupt(
        `${dir}: ${differs}; use a new --journal directory for this file, or remove the old one`,
      );
    if (existing.seal) keyForJournal(`journal ${dir}`, existing.seal, keys);
    else if (keys.length > 0) throw refuseKeyForPlainJournal(`journal ${dir}`);
    return { manifest: existing, resumed: true };
  }
  await mkdir(dir, { recursive: true });
  const now = new Date().toISOString();
  const seal = keys[0] && { journalId: newJournalSealId(), keyId: keys[0].id };
  const manifest: Manifest = {
    format: manifestFormat,
    formatVersion: seal ? sealedJournalFormatVersion : journalFormatVersion,
    shards,
    input,
    committedLine: 0,
    complete: false,
    createdAt: now,
    updatedAt: now,
    ...(seal ? { seal } : {}),
  };
  await writeManifest(dir, manifest);
  return { manifest, resumed: false };
}

/**
 * Replaces the manifest atomically: a temporary file unique to this writer (pid and random
 * suffix, created exclusively), then rename. A failed write removes its temporary file.
 */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  manifest.updatedAt = new Date().toISOString();
  const temp = join(dir, `${manifestFile}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
    await rename(temp, join(dir, manifestFile));
  } catch (error) {
    await rm(temp, { force: true });
    // A write through the file handle fails without a path (ENOSPC: "no space left on device,
    // write"); name the file, so that the caller knows the journal's disk is the one that is full.
    if (error instanceof Error && (error as NodeJS.ErrnoException).path === undefined)
      (error as NodeJS.ErrnoException).path = temp;
    throw error;
  }
}
