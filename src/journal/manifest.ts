/**
 * The journal directory's manifest (manifest.json): the format version, the shard count its
 * partitions were written with, and a fingerprint of the input, so that a journal is never used
 * with another input file or by a program that cannot read it. It also records the last input line
 * that every shard had applied, for replay of an unfinished run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { usageError } from '../errors.js';
import { journalFormatVersion } from './sqlite-journal.js';

export interface InputFingerprint {
  size: number;
  headCrc: number;
  tailCrc: number;
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
}

const manifestFile = 'manifest.json';
const sampleBytes = 1 << 20;

export async function fingerprint(path: string): Promise<InputFingerprint> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const read = async (position: number) => {
      const length = Math.min(sampleBytes, size - position);
      const buffer = Buffer.alloc(Math.max(0, length));
      if (length > 0) await handle.read(buffer, 0, length, position);
      return crc32(buffer);
    };
    return { size, headCrc: await read(0), tailCrc: await read(Math.max(0, size - sampleBytes)) };
  } finally {
    await handle.close();
  }
}

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, manifestFile);
  if (!existsSync(path)) {
    if (existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('partition-'))) {
      throw usageError(`${dir}: journal partitions without ${manifestFile}; not a journal this program wrote`);
    }
    return undefined;
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch (error) {
    throw usageError(`${path}: damaged journal manifest (${(error as Error).message})`);
  }
  if (manifest.format !== 'payments-journal') throw usageError(`${path}: not a payments journal manifest`);
  if (manifest.formatVersion > journalFormatVersion) {
    throw usageError(
      `${dir}: written by a newer version (journal format ${manifest.formatVersion}; this program reads ${journalFormatVersion})`,
    );
  }
  return manifest;
}

/** Opens the journal of a run: checks an existing one against the input, or starts a new one. */
export async function openRunManifest(
  dir: string,
  inputPath: string,
  shards: number,
): Promise<{ manifest: Manifest; resumed: boolean }> {
  const input = { name: inputPath, ...(await fingerprint(inputPath)) };
  const existing = await readManifest(dir);
  if (existing) {
    const same =
      existing.input.size === input.size &&
      existing.input.headCrc === input.headCrc &&
      existing.input.tailCrc === input.tailCrc;
    if (!same) {
      throw usageError(
        `${dir}: this journal was written for a different input (${existing.input.name}, ${existing.input.size} bytes); ` +
          'use a new --journal directory for this file, or remove the old one',
      );
    }
    return { manifest: existing, resumed: true };
  }
  await mkdir(dir, { recursive: true });
  const now = new Date().toISOString();
  const manifest: Manifest = {
    format: 'payments-journal',
    formatVersion: journalFormatVersion,
    shards,
    input,
    committedLine: 0,
    complete: false,
    createdAt: now,
    updatedAt: now,
  };
  await writeManifest(dir, manifest);
  return { manifest, resumed: false };
}

/** Replaces the manifest atomically (write a temporary file, then rename). */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  manifest.updatedAt = new Date().toISOString();
  const temp = join(dir, `${manifestFile}.tmp`);
  await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(temp, join(dir, manifestFile));
}
