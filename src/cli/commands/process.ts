/** `payments [input]`: the main job. Parse and check the arguments, then hand over to process-run. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { workersMax } from '../../constants.js';
import { usageError } from '../../errors.js';
import { chooseDelimiter } from '../../io/delimiter.js';
import { pathArg, type CliIo } from '../io.js';
import { cameFromEnvironment, logConfigOf, readNumber, type CommonArgs } from '../options.js';
import type { ProcessRequest } from '../process-run.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';

interface ProcessArgs extends CommonArgs, JournalKeyArgs {
  input?: string;
  workers: string | number;
  rejects?: string;
  report?: string;
  metrics?: string;
  journal?: string;
  output?: string;
  delimiter?: string;
  auditLog?: string;
}

/** For "did you mean" suggestions. */
export const processOptionNames = [
  ...['workers', 'rejects', 'journal', 'journal-key-file', 'report', 'metrics', 'output', 'delimiter'],
  'audit-log',
];

export function processCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, ProcessArgs> {
  const path = { type: 'string', requiresArg: true } as const;
  return {
    command: '$0 [input]',
    describe: 'Apply a transactions CSV (a file, or standard input) and print every account as CSV',
    builder: (y: Argv) =>
      withJournalKeyOption(y)
        .positional('input', {
          type: 'string',
          describe: 'transactions CSV file; standard input when absent or -',
        })
        .option('output', {
          ...path,
          alias: 'o',
          describe: 'write the accounts to this file instead of standard output',
        })
        .option('workers', {
          alias: 'w',
          type: 'string',
          requiresArg: true,
          default: defaultWorkers(),
          defaultDescription: 'cores less one',
          describe: `worker threads (shards), 1 to ${workersMax}; default: the number of cores less one (at least 1), leaving the main thread, which parses, a core of its own. The output is the same for any count`,
        })
        .option('rejects', { ...path, describe: 'write rejected rows with their reasons to this CSV file' })
        .option('journal', {
          ...path,
          describe:
            'durable journal: a directory (SQLite) or a postgres://… URL (?journal=NAME); a killed run resumes from it when run again',
        })
        .option('delimiter', {
          ...path,
          alias: 'd',
          describe:
            "field delimiter, one character (default ',', or tab for .tsv files); tab may be written \\t or tab",
        })
        .option('report', { ...path, describe: 'write the run report to this JSON file' })
        .option('audit-log', { ...path, describe: 'append this run to an audit log (JSON lines; see payments audit)' })
        .option('metrics', {
          ...path,
          describe: 'write Prometheus text-format metrics to this file',
        }) as unknown as Argv<ProcessArgs>,
    handler: async (argv) => {
      const request = processRequest(argv, io, rawArgv);
      // Workers take ~0.1 s to boot (an isolate and their modules). Without a journal (whose
      // manifest may fix another shard count) they start now, while this thread loads the rest.
      // Not for an input that is not there: the run fails its checks at once, and closing workers
      // must wait for them to finish booting (ending them mid-boot can abort the process natively).
      const early =
        request.journal === undefined &&
        argv.auditLog === undefined && // its first record comes before anything starts
        (request.input === '-' || existsSync(request.input));
      const pool = early
        ? new (await import('../../pool/shard-pool.js')).ShardPool(request.workers, request.log, undefined)
        : undefined;
      const run = import('../process-run.js');
      run.catch(() => pool?.close());
      if (argv.auditLog === undefined) return (await run).runProcess(request, io, pool);
      // The audit log is written first: its path is checked with the outputs before that.
      await (await run).checkRunPaths(request);
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      await audited(auditSinkFor(undefined, argv.auditLog), 'run', rawArgv, async () =>
        (await run).runProcess(request, io, pool),
      );
    },
  };
}

function processRequest(argv: ProcessArgs, io: CliIo, rawArgv: readonly string[]): ProcessRequest {
  const workers = readNumber(
    argv.workers,
    { option: 'workers', aliases: ['w'], min: 1, max: workersMax, integer: true, example: '--workers 2' },
    rawArgv,
  );
  let input = pathArg(argv.input);
  if (input === undefined) {
    if (io.stdinIsTty) {
      throw usageError('no input: give a transactions CSV file, or pipe one in (payments < transactions.csv)', {
        usageHint: true,
      });
    }
    input = '-';
  }
  return {
    input,
    delimiter: chooseDelimiter(argv.delimiter, input),
    workers,
    output: pathArg(argv.output),
    rejects: pathArg(argv.rejects),
    report: pathArg(argv.report),
    metrics: pathArg(argv.metrics),
    auditLog: pathArg(argv.auditLog),
    journal: pathArg(argv.journal),
    journalKeys: journalKeysFor(argv, rawArgv),
    fromEnvironment: ['output', 'rejects', 'report', 'metrics', 'audit-log', 'journal'].filter((option) =>
      cameFromEnvironment(option, rawArgv, option === 'output' ? ['o'] : []),
    ),
    log: logConfigOf(argv, rawArgv, io.stderrIsTty),
    progress: argv.progress && !argv.quiet && io.stderrIsTty,
  };
}

/** The journal's keys; on the command line without --journal they are a mistake, from the environment ignored. */
function journalKeysFor(argv: ProcessArgs, rawArgv: readonly string[]): ProcessRequest['journalKeys'] {
  if (argv.journalKeyFile === undefined) return undefined;
  if (argv.journal === undefined) {
    if (cameFromEnvironment('journal-key-file', rawArgv)) return undefined;
    throw usageError('--journal-key-file seals a journal: it needs --journal', { usageHint: true });
  }
  return journalKeysOf(argv.journalKeyFile);
}

/**
 * The main thread reads and routes every row, which costs more than applying it: it needs a core of
 * its own, and a worker beyond the cores left only competes with it (on 2 cores, 1 worker runs the
 * 3.75 M-row file 18-25 % faster than 2, whatever its shape, and journaled runs too: docs/decisions.md 85).
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores - 1, workersMax));
}
