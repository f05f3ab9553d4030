/**
 * The journal directories an output must stay out of: the one the command names (which may not
 * exist yet) and any directory that holds a journal (its manifest, or its lock file while a run
 * is creating it). An output is inside a journal when its resolved path is under the journal's
 * resolved path, when one of its directories is the journal directory (device and inode: a bind
 * mount or a second path to it), or when it is a journal file under another name (a hard link).
 */
import { manifestBytesMax } from '../constants.js';
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { lockFileName, manifestFileName, manifestFormat } from '../journal-files.js';
import { ancestorsOf, resolveReal } from './real-path.js';

export interface JournalPlace {
  /** As the user named it (`J`), for messages. */
  readonly label: string;
  readonly real: string;
  /** Device and inode of the directory, when it exists. */
  readonly key?: string;
  /** Device and inode of each file in it → the file as named in messages (`J/partition-0.sqlite`). */
  readonly files: ReadonlyMap<string, string>;
}

/** Where an output would land inside a journal: the journal, and the journal file it is, if any. */
export interface InsideJournal {
  readonly journal: string;
  readonly file?: string;
}

export const identity = (info: Stats): string => `${info.dev}:${info.ino}`;

export async function journalPlace(label: string, path: string): Promise<JournalPlace> {
  const real = await resolveReal(path);
  const info = await stat(real).catch(() => undefined);
  const files = new Map<string, string>();
  if (info?.isDirectory()) {
    for (const name of await readdir(real).catch(() => [])) {
      const file = await stat(join(real, name)).catch(() => undefined);
      if (file?.isFile()) files.set(identity(file), join(label, name));
    }
  }
  return { label, real, key: info && identity(info), files };
}

/** The journal `real` (an output's resolved path; `info` when it exists) would be inside, if any. */
export async function journalAround(
  real: string,
  info: Stats | undefined,
  known: readonly JournalPlace[],
): Promise<InsideJournal | undefined> {
  for (const place of known) {
    if (real === place.real || real.startsWith(`${place.real}/`)) return { journal: place.label };
  }
  if (info !== undefined) {
    for (const place of known) {
      const file = place.files.get(identity(info));
      if (file !== undefined) return { journal: place.label, file };
    }
  }
  for (const dir of ancestorsOf(real)) {
    const dirInfo = await stat(dir).catch(() => undefined);
    if (!dirInfo?.isDirectory()) continue;
    const place = known.find((p) => p.key === identity(dirInfo));
    if (place !== undefined) return { journal: place.label };
    if (await holdsJournal(dir)) return { journal: shown(dir) };
  }
  return undefined;
}

async function holdsJournal(dir: string): Promise<boolean> {
  const lock = await stat(join(dir, lockFileName)).catch(() => undefined);
  if (lock?.isFile()) return true;
  const manifest = join(dir, manifestFileName);
  const info = await stat(manifest).catch(() => undefined);
  if (!info?.isFile() || info.size > manifestBytesMax) return false;
  try {
    const parsed = JSON.parse(await readFile(manifest, 'utf8')) as { format?: unknown } | null;
    return parsed?.format === manifestFormat;
  } catch {
    return false; // a manifest.json of something else
  }
}

/** A directory as the user would name it: relative to the working directory when below it. */
function shown(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === '' || rel.startsWith('..') ? dir : rel;
}
