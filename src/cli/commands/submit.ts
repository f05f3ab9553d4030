/**
 * `payments submit FILE --nats URL --journal postgres://… --run NAME [-d C] [--rejects R] [-o OUT] [--detach]`:
 * route the input to the cluster's shards and print the merged accounts once the nodes applied it.
 * The input options and outputs are the single-process run's (`payments FILE`), handled the same way.
 */
import type { Argv, CommandModule } from 'yargs';
import {
  lagBatchesDefault,
  lagBatchesMax,
  shardsDefault,
  submitDeadlineSecondsDefault,
  workersMax,
} from '../../constants.js';
import { usageError } from '../../errors.js';
import { chooseDelimiter } from '../../io/delimiter.js';
import { createLogger } from '../../ops/logger.js';
import { pathArg, type CliIo } from '../io.js';
import { logConfigOf, readNumber, type CommonArgs } from '../options.js';
import {
  checkPostgresJournal,
  journalOption,
  natsSettingsOf,
  withNatsOptions,
  type NatsArgs,
} from './cluster-options.js';
import { checkClusterOutputs, writeClusterOutputs } from './cluster-outputs.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';

interface SubmitArgs extends CommonArgs, NatsArgs, JournalKeyArgs {
  input?: string;
  journal: string;
  run: string;
  shards: string | number;
  rejects?: string;
  output?: string;
  report?: string;
  metrics?: string;
  detach: boolean;
  maxLag: string | number;
  delimiter?: string;
  deleteStream: boolean;
  deadline: string | number;
}

export function submitCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, SubmitArgs> {
  return {
    command: 'submit <input>',
    describe: 'Send a transactions CSV to the cluster (payments node) and print the accounts',
    builder: submitOptions,
    handler: async (argv) => {
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      const action = argv.deleteStream ? 'delete-stream' : 'submit';
      await audited(auditSinkFor(checkPostgresJournal(argv.journal), undefined), action, rawArgv, () =>
        runSubmit(io, rawArgv, argv),
      );
    },
  };
}

/** The submit command's options (the cluster's, the single-process run's outputs and delimiter, its own). */
function submitOptions(y: Argv): Argv<SubmitArgs> {
  return withJournalKeyOption(journalOption(withNatsOptions(y)))
    .positional('input', { type: 'string', describe: 'transactions CSV file' })
    .option('run', {
      type: 'string',
      requiresArg: true,
      demandOption: true,
      describe: 'name of the run (letters, digits, _ -)',
    })
    .option('shards', {
      type: 'string',
      requiresArg: true,
      default: shardsDefault,
      describe: `shards of a new run, 1 to ${workersMax} (a run keeps its count); default ${shardsDefault}`,
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      requiresArg: true,
      describe: 'write the accounts to this file',
    })
    .option('rejects', {
      type: 'string',
      requiresArg: true,
      describe: 'write rejected rows with their reasons to this CSV file',
    })
    .option('report', {
      type: 'string',
      requiresArg: true,
      describe: 'write the run report to this JSON file (rows, rejections by reason, timings, shard states)',
    })
    .option('metrics', {
      type: 'string',
      requiresArg: true,
      describe: 'write the run metrics to this file, Prometheus text format',
    })
    .option('delimiter', {
      alias: 'd',
      type: 'string',
      requiresArg: true,
      describe: "field delimiter, one character (default ',', or tab for .tsv files); tab may be written \\t or tab",
    })
    .option('max-lag', {
      type: 'string',
      requiresArg: true,
      default: lagBatchesDefault,
      describe: `batches a shard may lag behind (held in the stream) before publishing to it waits; a new run's limit, 2 to ${lagBatchesMax} (the batch its owner resumes from is kept); default ${lagBatchesDefault}`,
    })
    .option('delete-stream', {
      type: 'boolean',
      default: false,
      describe: "delete the run's stream once it is finished and printed (the journal keeps what result needs)",
    })
    .option('deadline', {
      type: 'string',
      requiresArg: true,
      default: submitDeadlineSecondsDefault,
      describe: `seconds submit may take before it gives up (exit 1, naming the shards not finished); default ${submitDeadlineSecondsDefault}`,
    })
    .option('detach', {
      type: 'boolean',
      default: false,
      describe: 'return once published; print later with `payments result`',
    }) as unknown as Argv<SubmitArgs>;
}

/** Submits the run, then writes its outputs and logs what it took (or, detached, how to print it later). */
async function runSubmit(io: CliIo, rawArgv: readonly string[], argv: SubmitArgs): Promise<void> {
  const request = await submitRequest(argv, rawArgv);
  const keys = journalKeysOf(argv.journalKeyFile); // exit 2 naming a file that is not a key, before anything is sent
  const log = createLogger(logConfigOf(argv, rawArgv, io.stderrIsTty), { role: 'submit', run: request.run });
  const { submit } = await import('../../cluster/submit.js');
  const result = await submit({
    ...request,
    nats: natsSettingsOf(argv),
    keys,
    log,
    detach: argv.detach,
    deleteStream: argv.deleteStream,
    // The report's row counts come from reading the input again, as the rejected rows do.
    wantRejects: argv.rejects !== undefined || request.report !== undefined || request.metrics !== undefined,
  });
  if (result.outputs === undefined) {
    log.info(
      { rows: result.rowsRead, batches: result.batches },
      `published; print the accounts later with: payments result --run ${request.run} --journal …`,
    );
    return;
  }
  const extra = await reportTexts(request, result);
  const paths = {
    output: pathArg(argv.output),
    rejects: pathArg(argv.rejects),
    report: request.report,
    metrics: request.metrics,
  };
  await writeClusterOutputs(paths, result.outputs, io, extra);
  const seconds = result.totalMs / 1000;
  if (result.rowsRead === undefined) return; // complete before: printed from the journal alone
  log.info(
    {
      rows: result.rowsRead,
      batches: result.batches,
      publishSeconds: +(result.publishMs / 1000).toFixed(3),
      lagWaitSeconds: +(result.lagWaitMs / 1000).toFixed(3),
      seconds: +seconds.toFixed(3),
      rowsPerSecond: Math.round(result.rowsRead / seconds),
    },
    `run ${request.run} complete: ${result.rowsRead} rows in ${seconds.toFixed(2)} s`,
  );
}

/** The submit's arguments checked before anything is sent: input, journal, run name, shards, outputs. */
async function submitRequest(argv: SubmitArgs, rawArgv: readonly string[]) {
  const input = pathArg(argv.input);
  if (input === undefined || input === '-')
    throw usageError(
      'submit needs an input file (standard input cannot be read again for the rejected rows or a re-run)',
      { usageHint: true },
    );
  const journalUrl = checkPostgresJournal(argv.journal);
  const { checkRunName } = await import('../../cluster/names.js');
  const run = checkRunName(argv.run);
  const shards = readNumber(
    argv.shards,
    { option: 'shards', min: 1, max: workersMax, integer: true, example: `--shards ${shardsDefault}` },
    rawArgv,
  );
  if (argv.detach && argv.deleteStream)
    throw usageError('--delete-stream needs the run finished: not with --detach (run submit again without it)', {
      usageHint: true,
    });
  if (argv.detach && (argv.output !== undefined || argv.rejects !== undefined))
    throw usageError('--detach prints nothing: use -o/--rejects with `payments result` later', { usageHint: true });
  const report = pathArg(argv.report);
  const metrics = pathArg(argv.metrics);
  if (argv.detach && (report !== undefined || metrics !== undefined))
    throw usageError('--report and --metrics need the run finished: not with --detach', { usageHint: true });
  const delimiter = chooseDelimiter(argv.delimiter, input);
  const output = pathArg(argv.output);
  await checkClusterOutputs(
    input,
    { output, rejects: pathArg(argv.rejects), report, metrics },
    rawArgv,
    !argv.detach && !output,
  );
  const maxLag = readNumber(
    argv.maxLag,
    { option: 'max-lag', min: 2, max: lagBatchesMax, integer: true, example: `--max-lag ${lagBatchesDefault}` },
    rawArgv,
  );
  const deadlineMs =
    1000 *
    readNumber(
      argv.deadline,
      { option: 'deadline', min: 1, max: 30 * 86400, integer: true, example: '--deadline 3600' },
      rawArgv,
    );
  return { input, journalUrl, run, shards, maxLag, delimiter, deadlineMs, report, metrics };
}

/** The report and metrics texts, when asked for: the run's counts, timings and each shard's state at the end. */
async function reportTexts(
  request: Awaited<ReturnType<typeof submitRequest>>,
  result: Awaited<ReturnType<typeof import('../../cluster/submit.js').submit>>,
): Promise<{ report?: string; metrics?: string }> {
  if (request.report === undefined && request.metrics === undefined) return {};
  const { buildSubmitReport, submitMetricsText } = await import('../../cluster/submit-report.js');
  const { shardStates } = await import('../../cluster/shards-report.js');
  const report = buildSubmitReport(
    {
      run: request.run,
      input: request.input,
      rowsSent: result.rowsRead,
      batches: result.batches,
      publishMs: result.publishMs,
      lagWaitMs: result.lagWaitMs,
      totalMs: result.totalMs,
      shards: await shardStates(request.journalUrl, request.run),
    },
    result.outputs!.counts,
  );
  return {
    report: request.report === undefined ? undefined : JSON.stringify(report, null, 2) + '\n',
    metrics: request.metrics === undefined ? undefined : await submitMetricsText(report),
  };
}
