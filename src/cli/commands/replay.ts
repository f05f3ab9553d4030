/**
 * `payments replay --journal DIR [--as-of-line N]`: accounts rebuilt from the journal alone, as
 * they stood after input line N (default: the whole journal). The same evolve as live processing.
 */
import type { Argv, CommandModule } from 'yargs';
import { formatAccounts } from '../../io/csv-writer.js';
import { checkOutputs } from '../../io/output-paths.js';
import { replayJournal } from '../../journal/replay.js';
import { createLogger } from '../../ops/logger.js';
import { usageError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { logConfigOf, readNumber, type CommonArgs } from '../options.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';
import { isPostgresUrl, parsePostgresUrl } from '../../journal/postgres/url.js';

interface ReplayArgs extends JournalKeyArgs, CommonArgs {
  journal: string;
  asOfLine?: string;
}

export function replayCommand(io: CliIo, rawArgv: readonly string[] = []): CommandModule<object, ReplayArgs> {
  return {
    command: 'replay',
    describe: 'Rebuild and print the accounts from a journal alone (no input file)',
    builder: (y: Argv) =>
      withJournalKeyOption(y)
        .option('journal', {
          type: 'string',
          demandOption: true,
          describe: 'journal written by --journal: its directory or postgres://… URL',
        })
        .option('as-of-line', {
          type: 'string',
          requiresArg: true,
          describe: 'the accounts as they stood after this input line',
        }) as unknown as Argv<ReplayArgs>,
    handler: async (argv) => {
      // Read as typed, so `abc` or `99999999999999999999` is echoed as given, not as NaN or 1e20.
      const asOfLine =
        argv.asOfLine === undefined
          ? undefined
          : readNumber(
              argv.asOfLine,
              { option: 'as-of-line', min: 0, integer: true, example: '--as-of-line 1000' },
              rawArgv,
            );
      // A PostgreSQL journal: its URL is checked here, the journal when it is opened.
      const postgres = isPostgresUrl(argv.journal);
      if (postgres) parsePostgresUrl(argv.journal);
      const journal = postgres ? undefined : { option: '--journal', path: argv.journal, reads: true };
      await checkOutputs({ journal, stdout: true });
      const log = createLogger(logConfigOf(argv, rawArgv, io.stderrIsTty));
      const started = performance.now();
      const result = await replayJournal(argv.journal, asOfLine, journalKeysOf(argv.journalKeyFile));
      // Accounts "as of line N" that lack rows up to N would be a wrong answer, not a partial one.
      if (asOfLine !== undefined && asOfLine > result.completeThrough)
        throw usageError(
          `--as-of-line ${asOfLine}: the journal's run did not finish, and its partitions hold every line only up to line ${result.completeThrough}; ask for a line up to ${result.completeThrough}, or resume the run first (the command that wrote the journal; for a cluster run, its nodes or submit)`,
        );
      if (asOfLine === undefined && result.unfinished)
        log.info(
          { lastLines: result.lastLines },
          `the journal's run did not finish: showing every record its partitions hold (up to lines ${result.lastLines.join(', ')})`,
        );
      log.info(
        {
          partitions: result.partitions,
          recordsReplayed: result.recordsReplayed,
          recoveryMs: Math.round(performance.now() - started),
        },
        'journal replayed',
      );
      await io.stdout(formatAccounts([...result.accounts].map(([client, a]) => ({ client, ...a }))));
    },
  };
}
