/**
 * A run's journal, wherever it lives: a directory (SQLite partitions, manifest.json, a lock file)
 * or a PostgreSQL URL (`postgres://…`: the payments schema, one row per journal, advisory locks).
 * The pipeline opens it for an input, saves its progress and closes it; it never needs to know
 * which one it has.
 */
import { mkdir } from 'node:fs/promises';
import { resolveReal } from '../io/real-path.js';
import { checkJournalPathLength } from './format.js';
import { openRunManifest, writeManifest, type Manifest } from './manifest.js';
import { isPostgresUrl, redactUrl } from './postgres/url.js';
import type { JournalKeyring } from './seal.js';

export interface RunJournal {
  readonly manifest: Manifest;
  readonly resumed: boolean;
  /** Stores the manifest's progress (committedLine, complete). */
  save(manifest: Manifest): Promise<void>;
  close(): Promise<void>;
}

export { isPostgresUrl };

/** How a journal location is printed: a URL without its password. */
export function journalDisplay(location: string): string {
  return isPostgresUrl(location) ? redactUrl(location) : location;
}

/** `keys`: a new journal is sealed with the first; an existing one must be sealed under one of them, or not at all when none are given. */
export async function openRunJournal(
  location: string,
  inputPath: string,
  workers: number,
  keys: JournalKeyring = [],
  delimiter = ',',
): Promise<RunJournal> {
  // pg is loaded only for a PostgreSQL journal (start-up time and memory of every other run).
  if (isPostgresUrl(location))
    return (await import('./postgres/run.js')).openPostgresRun(location, inputPath, workers, keys, delimiter);
  checkJournalPathLength(location);
  // Through a dangling link too: the directory it names is made, and the link stays a link.
  await mkdir(await resolveReal(location), { recursive: true });
  // The lock is a SQLite file: better-sqlite3 too loads only for a durable run.
  const { JournalLock } = await import('./lock.js');
  const lock = JournalLock.acquire(location); // one writer per journal, for the whole run
  try {
    const { manifest, resumed } = await openRunManifest(location, inputPath, workers, keys, delimiter);
    return {
      manifest,
      resumed,
      save: (m) => writeManifest(location, m),
      close: async () => lock.release(),
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}
