/** `payments <input|->`: the main job. The handler composes; the work is in pipeline/. */
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { workersMax } from '../../constants.js';
import { usageError } from '../../io/errors.js';
import { processFile } from '../../pipeline/process-file.js';
import { RejectsSink } from '../../pipeline/rejects-sink.js';
import { stdinArg, type CliIo } from '../io.js';

export interface ProcessArgs {
  input: string;
  workers: number;
  rejects?: string;
}

export function processCommand(io: CliIo): CommandModule<object, ProcessArgs> {
  return {
    command: '$0 <input>',
    describe: 'Apply a transactions CSV (or - for stdin) and print every account as CSV on stdout',
    builder: (y: Argv) =>
      y
        .positional('input', { type: 'string', demandOption: true, describe: 'transactions CSV file, or - for stdin' })
        .option('workers', {
          alias: 'w',
          type: 'number',
          default: availableParallelism(),
          defaultDescription: 'number of cores',
          describe: `worker threads (shards), 1 to ${workersMax}; the output is the same for any count`,
        })
        .option('rejects', { type: 'string', describe: 'write rejected rows with their reasons to this CSV file' }) as unknown as Argv<ProcessArgs>,
    handler: async (argv) => {
      checkWorkers(argv.workers);
      const input = argv.input === stdinArg ? '-' : argv.input;
      const rejects = argv.rejects === undefined ? undefined : await RejectsSink.open(argv.rejects);
      try {
        const result = await processFile({ input, workers: argv.workers, rejects });
        await rejects?.commit();
        await io.stdout(result.accountsCsv);
      } catch (error) {
        await rejects?.discard();
        throw error;
      }
    },
  };
}

export function checkWorkers(workers: unknown): void {
  if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > workersMax) {
    throw usageError(`--workers must be a whole number from 1 to ${workersMax} (got ${String(workers)}); for example --workers 2`);
  }
}
