/** `payments result --run NAME --journal postgres://… [-o OUT] [--rejects R [--input FILE]]`: a finished run's outputs. */
import type { Argv, CommandModule } from 'yargs';
import { pathArg, type CliIo } from '../io.js';
import type { CommonArgs } from '../options.js';
import { checkPostgresJournal, journalOption } from './cluster-options.js';
import { checkClusterOutputs, writeClusterOutputs } from './cluster-outputs.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';

interface ResultArgs extends CommonArgs, JournalKeyArgs {
  journal: string;
  run: string;
  output?: string;
  rejects?: string;
  input?: string;
}

export function resultCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, ResultArgs> {
  return {
    command: 'result',
    describe: 'Print the accounts (and rejected rows) of a run submitted to the cluster',
    builder: (y: Argv) =>
      withJournalKeyOption(journalOption(y))
        .option('run', { type: 'string', requiresArg: true, demandOption: true, describe: 'name of the run' })
        .option('output', {
          alias: 'o',
          type: 'string',
          requiresArg: true,
          describe: 'write the accounts to this file',
        })
        .option('rejects', {
          type: 'string',
          requiresArg: true,
          describe: 'write rejected rows to this CSV file (reads the input again: see --input)',
        })
        .option('input', {
          type: 'string',
          requiresArg: true,
          describe: 'the submitted file, for --rejects (default: the path submit was given)',
        }) as unknown as Argv<ResultArgs>,
    handler: async (argv) => {
      const journalUrl = checkPostgresJournal(argv.journal);
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      await audited(auditSinkFor(journalUrl, undefined), 'result', rawArgv, () => printResult(io, rawArgv, argv));
    },
  };
}

async function printResult(io: CliIo, rawArgv: readonly string[], argv: ResultArgs): Promise<void> {
  const journalUrl = argv.journal;
  const { checkRunName } = await import('../../cluster/names.js');
  const run = checkRunName(argv.run);
  const paths = { output: pathArg(argv.output), rejects: pathArg(argv.rejects) };
  const keys = journalKeysOf(argv.journalKeyFile);
  const { result, submittedInput } = await import('../../cluster/outputs.js');
  // The file --rejects reads again (the path submit was given, by default): no output, standard
  // output included, may replace it. Without --rejects a run not found is reported by result().
  const input =
    pathArg(argv.input) ??
    (await submittedInput(journalUrl, run).catch((error: unknown) => {
      if (paths.rejects !== undefined) throw error;
      return undefined;
    }));
  await checkClusterOutputs(input, paths, rawArgv, paths.output === undefined);
  const outputsOf = await result(journalUrl, run, paths.rejects === undefined ? undefined : input, keys);
  await writeClusterOutputs(paths, outputsOf, io);
}
