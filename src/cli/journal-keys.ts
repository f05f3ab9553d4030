/**
 * `--journal-key-file FILE` (PAYMENTS_JOURNAL_KEY_FILE): the keys of a sealed journal, read from
 * files so that no key is ever on a command line. Given more than once, or as a comma-separated
 * list, every key opens what it sealed; the first seals a new journal.
 */
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import { readKeyFiles } from '../journal/key-file.js';
import type { JournalKeyring } from '../journal/seal.js';

export const journalKeyOption = 'journal-key-file';

export interface JournalKeyArgs {
  journalKeyFile?: string | string[];
}

export function withJournalKeyOption<T>(y: Argv<T>): Argv<T & JournalKeyArgs> {
  return y.option(journalKeyOption, {
    type: 'string',
    requiresArg: true,
    describe:
      'file holding the journal key (64 hex digits: openssl rand -hex 32 > FILE): a new journal is sealed (AES-256-GCM) with it, a sealed one needs it; repeat it or give a comma list to allow several keys (the first seals new journals)',
  }) as unknown as Argv<T & JournalKeyArgs>;
}

/** The keys given (none: an empty list); exit 2 naming the file for a file that is not a key. */
export function journalKeysOf(raw: string | string[] | undefined, option = `--${journalKeyOption}`): JournalKeyring {
  if (raw === undefined) return [];
  const values = (Array.isArray(raw) ? raw : [raw]).map(String);
  if (values.some((v) => v.trim() === '')) throw usageError(`${option} needs a file name`, { usageHint: true });
  return readKeyFiles(values, option);
}
