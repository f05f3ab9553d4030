/**
 * `payments reseal --journal J [--journal-key-file OLD] --new-key-file NEW`: every batch and
 * snapshot part of a journal sealed again under NEW (key rotation), or sealed for the first time
 * (a journal that is not sealed needs no old key). Atomic: one transaction (PostgreSQL), or one per
 * partition with the journal's lock held and every partition checked first (SQLite). A damaged
 * journal is refused and left as it was.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { isPostgresUrl, parsePostgresUrl } from '../../journal/postgres/url.js';
import { createLogger, type LogLevel } from '../../ops/logger.js';
import type { CliIo } from '../io.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';

interface ResealArgs extends JournalKeyArgs {
  journal: string;
  newKeyFile?: string | string[];
  logLevel: LogLevel;
}

export function resealCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, ResealArgs> {
  return {
    command: 'reseal',
    describe: 'Seal a journal again under a new key (or seal one that is not sealed), atomically',
    builder: (y: Argv) =>
      withJournalKeyOption(y)
        .option('journal', {
          type: 'string',
          demandOption: true,
          describe: 'the journal: its directory or postgres://… URL',
        })
        .option('new-key-file', {
          type: 'string',
          requiresArg: true,
          demandOption: true,
          describe: 'file holding the new key (64 hex digits: openssl rand -hex 32 > FILE)',
        }) as unknown as Argv<ResealArgs>,
    handler: async (argv) => {
      if (Array.isArray(argv.newKeyFile))
        throw usageError('--new-key-file is given more than once', { usageHint: true });
      const [newKey] = journalKeysOf(argv.newKeyFile, '--new-key-file');
      if (newKey === undefined) throw usageError('--new-key-file needs a file name', { usageHint: true });
      const oldKeys = journalKeysOf(argv.journalKeyFile);
      const log = createLogger({ level: argv.logLevel, pretty: io.stderrIsTty });
      const started = performance.now();
      const postgres = isPostgresUrl(argv.journal);
      const display = postgres ? parsePostgresUrl(argv.journal).display : argv.journal;
      // Recorded in the audit log of a PostgreSQL journal's database (a SQLite journal has none).
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      const result = await audited(auditSinkFor(argv.journal, undefined), 'reseal', rawArgv, async () =>
        postgres
          ? (await import('../../journal/postgres/reseal.js')).resealPostgres(
              parsePostgresUrl(argv.journal),
              oldKeys,
              newKey,
            )
          : (await import('../../journal/sqlite/reseal.js')).resealSqlite(argv.journal, oldKeys, newKey),
      );
      const seconds = Math.round(performance.now() - started) / 1000;
      const from = result.fromKeyId === undefined ? 'not sealed' : `key id ${result.fromKeyId}`;
      log.info(
        { ...result, seconds },
        `journal ${display}: sealed with key id ${result.toKeyId} (was ${from}): ${result.batches} batches, ${result.snapshotUnits} snapshot units`,
      );
    },
  };
}
