/** `payments inspect --journal DIR [--client C]`: a client's (or every) journal record, in order, for audit. */
import type { Argv, CommandModule } from 'yargs';
import { clientIdMax } from '../../domain/ids.js';
import { checkOutputs } from '../../io/output-paths.js';
import { inspectHeader, inspectJournal } from '../../journal/inspect.js';
import type { CliIo } from '../io.js';
import { readNumber } from '../options.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';
import { isPostgresUrl, parsePostgresUrl } from '../../journal/postgres/url.js';

interface InspectArgs extends JournalKeyArgs {
  journal: string;
  client?: string;
}

export function inspectCommand(io: CliIo, rawArgv: readonly string[] = []): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect',
    describe: "List a client's journal records (or every record) in order, as CSV",
    builder: (y: Argv) =>
      withJournalKeyOption(y)
        .option('journal', {
          type: 'string',
          demandOption: true,
          describe: 'journal written by --journal: its directory or postgres://… URL',
        })
        .option('client', {
          type: 'string',
          requiresArg: true,
          describe: 'only this client (its partition alone is read)',
        }) as unknown as Argv<InspectArgs>,
    handler: async (argv) => {
      const client =
        argv.client === undefined
          ? undefined
          : readNumber(
              argv.client,
              { option: 'client', min: 0, max: clientIdMax, integer: true, example: '--client 7' },
              rawArgv,
            );
      // A PostgreSQL journal: its URL is checked here, the journal when it is opened.
      const postgres = isPostgresUrl(argv.journal);
      if (postgres) parsePostgresUrl(argv.journal);
      const journal = postgres ? undefined : { option: '--journal', path: argv.journal, reads: true };
      await checkOutputs({ journal, stdout: true });
      const pieces = inspectJournal(argv.journal, client, journalKeysOf(argv.journalKeyFile));
      const first = await pieces.next(); // the journal opens (or fails) before anything is printed
      await io.stdout(inspectHeader);
      if (!first.done) await io.stdout(first.value);
      for await (const text of pieces) await io.stdout(text);
    },
  };
}
