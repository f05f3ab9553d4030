/** `payments <input|->`: the main job. The handler composes; the work is in pipeline/ and ops/. */
import { stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { workersMax } from '../../constants.js';
import { RunError, runFailure, usageError } from '../../errors.js';
import { createLogger, logLevels, type LogLevel } from '../../ops/logger.js';
import { RunMetrics } from '../../ops/metrics.js';
import { createProgress, noProgress } from '../../ops/progress.js';
import { chooseDelimiter } from '../../io/delimiter.js';
import { buildReport } from '../../ops/report.js';
import { processFile } from '../../pipeline/process-file.js';
import { RejectsSink } from '../../pipeline/rejects-sink.js';
import { stdinArg, type CliIo } from '../io.js';

export interface ProcessArgs {
  input: string;
  workers: number;
  rejects?: string;
  report?: string;
  metrics?: string;
  journal?: string;
  delimiter?: string;
  quiet: boolean;
  progress: boolean;
  logLevel: LogLevel;
}

const signalExitCodes = { SIGINT: 130, SIGTERM: 143 } as const;

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
          default: Math.min(availableParallelism(), workersMax),
          defaultDescription: 'number of cores',
          describe: `worker threads (shards), 1 to ${workersMax}; the output is the same for any count`,
        })
        .option('rejects', { type: 'string', describe: 'write rejected rows with their reasons to this CSV file' })
        .option('journal', {
          type: 'string',
          describe: 'durable journal directory: a killed run resumes from it when run again',
        })
        .option('delimiter', {
          alias: 'd',
          type: 'string',
          requiresArg: true,
          describe:
            "field delimiter, one character (default ',', or tab for .tsv files); tab may be written \\t or tab",
        })
        .option('report', { type: 'string', describe: 'write the run report to this JSON file' })
        .option('metrics', { type: 'string', describe: 'write Prometheus text-format metrics to this file' })
        .option('progress', {
          type: 'boolean',
          default: true,
          describe: 'progress bar on stderr (only when stderr is a terminal)',
        })
        .option('quiet', {
          alias: 'q',
          type: 'boolean',
          default: false,
          describe: 'no progress bar and no report on stderr; warnings and errors only',
        })
        .option('log-level', {
          choices: logLevels,
          default: 'info' as LogLevel,
          describe: 'stderr log level (debug also shows stack traces)',
        }) as unknown as Argv<ProcessArgs>,
    handler: async (argv) => {
      checkWorkers(argv.workers);
      const input = argv.input === stdinArg ? '-' : argv.input;
      const delimiter = chooseDelimiter(argv.delimiter, input);
      const level: LogLevel = argv.quiet && ['info', 'debug', 'trace'].includes(argv.logLevel) ? 'warn' : argv.logLevel;
      const logConfig = { level, pretty: io.stderrIsTty };
      const log = createLogger(logConfig);
      const progress =
        argv.progress && !argv.quiet && io.stderrIsTty
          ? createProgress(input === '-' ? undefined : await sizeOf(input))
          : noProgress;
      const metrics = argv.metrics === undefined ? undefined : new RunMetrics();
      const rejects = argv.rejects === undefined ? undefined : await RejectsSink.open(argv.rejects);
      const started = performance.now();
      log.debug({ input, workers: argv.workers }, 'run started');
      // SIGINT / SIGTERM: stop reading, drain what is in flight, flush the journal; a second one exits at once.
      const stop = new AbortController();
      let stoppedBy: keyof typeof signalExitCodes | undefined;
      const onSignal = (name: keyof typeof signalExitCodes) => {
        if (stoppedBy !== undefined) process.exit(signalExitCodes[name]);
        stoppedBy = name;
        stop.abort();
        log.warn(
          `${name}: stopping after the batches in flight${argv.journal ? ' and flushing the journal' : ''} (send it again to exit at once)`,
        );
      };
      const onInt = () => onSignal('SIGINT');
      const onTerm = () => onSignal('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      try {
        const result = await processFile({
          input,
          delimiter: delimiter.delimiter,
          sniffDelimiter: !delimiter.explicit,
          workers: argv.workers,
          rejects,
          log: logConfig,
          journalDir: argv.journal,
          signal: stop.signal,
          onOpen: (info) => {
            if (info.resumed) {
              const what = info.complete
                ? 'its run had finished; nothing will be applied again'
                : `resuming (every shard has applied its rows up to line ${info.resumeLine})`;
              log.info(
                { recovery: info },
                `journal ${argv.journal}: ${what}; recovery took ${Math.round(info.recoveryMs)} ms`,
              );
            }
          },
          onProgress: (bytes, rows) => progress.update(bytes, rows),
          onBatchApplied: metrics ? (shard, ms) => metrics.observeBatch(shard, ms) : undefined,
        });
        progress.stop();
        if (result.interrupted && stoppedBy !== undefined) {
          const how = argv.journal
            ? `the journal holds every row up to line ${result.lastLine}; run the same command again to resume`
            : 'nothing was saved (run with --journal DIR to make a run resumable)';
          throw new RunError(
            `stopped by ${stoppedBy} after line ${result.lastLine}: ${how}`,
            signalExitCodes[stoppedBy],
          );
        }
        const wallSeconds = (performance.now() - started) / 1000;
        await rejects?.commit();
        const report = buildReport(result.summary, wallSeconds);
        log.info(
          { report },
          `run complete: ${report.rowsRead} rows, ${report.rowsRejected} rejected, ${report.accounts} accounts in ${report.wallSeconds} s`,
        );
        if (argv.report !== undefined) await writeOutput(argv.report, `${JSON.stringify(report, null, 2)}\n`);
        if (metrics && argv.metrics !== undefined) await metrics.write(argv.metrics, result.summary, wallSeconds);
        await io.stdout(result.accountsCsv);
      } catch (error) {
        progress.stop();
        await rejects?.discard();
        throw error;
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      }
    },
  };
}

export function checkWorkers(workers: unknown): void {
  if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > workersMax) {
    throw usageError(
      `--workers must be a whole number from 1 to ${workersMax} (got ${String(workers)}); for example --workers 2`,
      { usageHint: true },
    );
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined; // processFile reports the problem
  }
}

async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    throw runFailure(`${path}: cannot write (${(error as Error).message}); check the directory exists and is writable`);
  }
}
