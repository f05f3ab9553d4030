/** `payments inspect --journal DIR [--client C]`: a client's (or every) journal record, in order, for audit. */
import type { Argv, CommandModule } from 'yargs';
import { clientIdMax, isClientId } from '../../domain/ids.js';
import { usageError } from '../../errors.js';
import { inspectHeader, inspectJournal } from '../../journal/inspect.js';
import type { CliIo } from '../io.js';

interface InspectArgs {
  journal: string;
  client?: number;
}

export function inspectCommand(io: CliIo): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect',
    describe: "List a client's journal records (or every record) in order, as CSV",
    builder: (y: Argv) =>
      y
        .option('journal', {
          type: 'string',
          demandOption: true,
          describe: 'journal written by --journal: its directory or postgres://… URL',
        })
        .option('client', {
          type: 'number',
          describe: 'only this client (its partition alone is read)',
        }) as unknown as Argv<InspectArgs>,
    handler: async (argv) => {
      const { client } = argv;
      if (client !== undefined && !isClientId(client))
        throw usageError(`--client must be a whole number from 0 to ${clientIdMax} (got ${client})`, {
          usageHint: true,
        });
      const pieces = inspectJournal(argv.journal, client);
      const first = await pieces.next(); // the journal opens (or fails) before anything is printed
      await io.stdout(inspectHeader);
      if (!first.done) await io.stdout(first.value);
      for await (const text of pieces) await io.stdout(text);
    },
  };
}
