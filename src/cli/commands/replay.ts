/**
 * `payments replay --journal DIR [--as-of-line N]`: accounts rebuilt from the journal alone, as
 * they stood after input line N (default: the whole journal). The same evolve as live processing.
 */
import type { Argv, CommandModule } from 'yargs';
import { formatAccounts } from '../../io/csv-writer.js';
import { usageError } from '../../errors.js';
import { replayJournal } from '../../journal/replay.js';
import { createLogger, type LogLevel } from '../../ops/logger.js';
import type { CliIo } from '../io.js';

interface ReplayArgs {
  journal: string;
  asOfLine?: number;
  logLevel: LogLevel;
}

export function replayCommand(io: CliIo): CommandModule<object, ReplayArgs> {
  return {
    command: 'replay',
    describe: 'Rebuild and print the accounts from a journal alone (no input file)',
    builder: (y: Argv) =>
      y
        .option('journal', {
          type: 'string',
          demandOption: true,
          describe: 'journal written by --journal: its directory or postgres://… URL',
        })
        .option('as-of-line', {
          type: 'number',
          describe: 'the accounts as they stood after this input line',
        }) as unknown as Argv<ReplayArgs>,
    handler: async (argv) => {
      if (argv.asOfLine !== undefined && (!Number.isSafeInteger(argv.asOfLine) || argv.asOfLine < 0)) {
        throw usageError(`--as-of-line must be a whole number ≥ 0 (got ${argv.asOfLine})`, { usageHint: true });
      }
      const log = createLogger({ level: argv.logLevel, pretty: io.stderrIsTty });
      const started = performance.now();
      const result = await replayJournal(argv.journal, argv.asOfLine);
      if (argv.asOfLine === undefined && result.unfinished)
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
