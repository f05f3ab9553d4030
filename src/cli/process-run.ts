/**
 * One `payments` run, composed: check every output path, open the outputs, process the input with
 * progress and graceful stop, then write the accounts, report and metrics, and rename every output
 * into place only once everything (standard output included) has succeeded. A failed run leaves no
 * output file; a run stopped by a signal neither.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { RunError, StoppedWaiting } from '../errors.js';
import type { DelimiterChoice } from '../io/delimiter.js';
import { checkOutputs, type OutputPath } from '../io/output-paths.js';
import { OutputSet } from '../io/output-file.js';
import { createLogger, stderrSink, type LogConfig } from '../ops/logger.js';
import { traced } from '../ops/tracing.js';
import type { RunMetrics } from '../ops/metrics.js';
import { createProgress, noProgress, TerminalWriter, type Progress } from '../ops/progress.js';
import { buildReport, summaryText, type RunReport } from '../ops/report.js';
import type { OpenInfo, ProcessResult } from '../pipeline/process-file.js';
import type { ShardPool } from '../pool/shard-pool.js';
import { RejectsSink } from '../pipeline/rejects-sink.js';
import { onStopSignals, signalExitCodes, type GracefulStop, type StopSignal } from './graceful-stop.js';
import type { CliIo } from './io.js';
import { journalDisplay } from '../journal/run-journal.js';
import { isPostgresUrl, parsePostgresUrl } from '../journal/postgres/url.js';
import { envVariable } from './options.js';
import type { JournalKeyring } from '../journal/seal.js';

export interface ProcessRequest {
  readonly input: string;
  /** The field delimiter and whether the user chose it (else line 1 is sniffed for another). */
  readonly delimiter: DelimiterChoice;
  readonly workers: number;
  readonly output?: string;
  readonly rejects?: string;
  readonly report?: string;
  readonly metrics?: string;
  /** --audit-log: appended to (the run's records), so an output like the others. */
  readonly auditLog?: string;
  readonly journal?: string;
  /** --journal-key-file: the journal's keys (the first seals a new journal). */
  readonly journalKeys?: JournalKeyring;
  /** Options whose value came from the environment (`rejects` from PAYMENTS_REJECTS), to name the variable. */
  readonly fromEnvironment?: readonly string[];
  readonly log: LogConfig;
  /** Draw the progress bar (a terminal, not --quiet, not --no-progress). */
  readonly progress: boolean;
}

interface Finished {
  readonly result: ProcessResult;
  readonly report: RunReport;
  readonly metrics: RunMetrics | undefined;
  readonly wallSeconds: number;
}

/** `pool`: workers the caller started early for this run (no journal); closed here whatever happens. */
export async function runProcess(request: ProcessRequest, io: CliIo, pool?: ShardPool): Promise<void> {
  try {
    const journal = request.journal === undefined ? 'none' : isPostgresUrl(request.journal) ? 'postgres' : 'sqlite';
    const attributes = {
      'payments.input': request.input,
      'payments.workers': request.workers,
      'payments.journal': journal,
    };
    await traced('payments.run', attributes, () => runWith(request, io, pool));
  } finally {
    await pool?.close();
  }
}

/**
 * The output rule for every path the run writes (exit 2 before anything is read or written). The
 * command checks it before an audit log gets the run's first record; the run checks it again.
 */
export async function checkRunPaths(request: ProcessRequest): Promise<void> {
  // A PostgreSQL journal is checked (URL, journal name) here and reached when the run opens it.
  const postgres = request.journal !== undefined && isPostgresUrl(request.journal);
  if (postgres) parsePostgresUrl(request.journal!);
  const journal = request.journal === undefined || postgres ? undefined : named(request, 'journal', request.journal);
  await checkOutputs({ input: request.input, outputs: outputPaths(request), journal, stdout: !request.output });
}

async function runWith(request: ProcessRequest, io: CliIo, pool: ShardPool | undefined): Promise<void> {
  await checkRunPaths(request);
  const terminal = io.stderrIsTty ? new TerminalWriter() : undefined;
  const log = createLogger(request.log, {}, terminal ?? stderrSink);
  const stop = onStopSignals(log, request.journal !== undefined);
  const outputs = new OutputSet({ signal: stop.signal, onWait: (message) => log.info(message) });
  const progress = new LazyProgress(request.progress ? terminal : undefined);
  try {
    const finished = await processInput(request, outputs, log, stop, progress, pool);
    await writeOutputs(request, outputs, io, finished, stop.signal);
    if (terminal) {
      if (log.isLevelEnabled('info')) terminal.write(summaryText(finished.report, request.log.color ?? false));
    } else {
      const { report } = finished;
      log.info(
        { report },
        `run complete: ${report.rowsRead} rows, ${report.rowsRejected} rejected, ${report.accounts} accounts in ${report.wallSeconds} s`,
      );
    }
  } catch (error) {
    progress.stop();
    await outputs.discard();
    throw error instanceof StoppedWaiting && stop.stoppedBy ? stoppedWaiting(request, stop.stoppedBy, error) : error;
  } finally {
    stop.dispose();
  }
}

/**
 * A stop that gave up waiting on an output's reader (a FIFO, standard output) or on the writer of a
 * FIFO input: 130 / 143 all the same.
 */
function stoppedWaiting(request: ProcessRequest, by: StopSignal, error: StoppedWaiting): RunError {
  const how = request.journal
    ? 'the journal keeps every row applied; run the same command again to finish'
    : 'nothing was saved (run with --journal DIR to make a run resumable)';
  return new RunError(`stopped by ${by} ${error.message}: ${how}`, signalExitCodes[by]);
}

function outputPaths(request: ProcessRequest): OutputPath[] {
  const paths: OutputPath[] = [];
  for (const option of ['output', 'rejects', 'report', 'metrics'] as const) {
    const path = request[option];
    if (path !== undefined) paths.push(named(request, option, path));
  }
  if (request.auditLog !== undefined) paths.push(named(request, 'audit-log', request.auditLog));
  return paths;
}

function named(request: ProcessRequest, option: string, path: string): OutputPath {
  const variable = request.fromEnvironment?.includes(option) ? envVariable(option) : undefined;
  return { option: `--${option}`, path, ...(variable ? { variable } : {}) };
}

async function processInput(
  request: ProcessRequest,
  outputs: OutputSet,
  log: Logger,
  stop: GracefulStop,
  progress: LazyProgress,
  pool: ShardPool | undefined,
): Promise<Finished> {
  const rejects = request.rejects
    ? await RejectsSink.over(await outputs.open(request.rejects, '--rejects'))
    : undefined;
  const metrics = request.metrics ? new (await import('../ops/metrics.js')).RunMetrics() : undefined;
  const { processFile } = await import('../pipeline/process-file.js');
  progress.totalBytes =
    request.input === '-'
      ? undefined
      : await stat(request.input).then(
          (s) => s.size,
          () => undefined,
        );
  const started = performance.now();
  log.debug({ input: request.input, workers: request.workers }, 'run started');
  const result = await processFile({
    input: request.input,
    delimiter: request.delimiter.delimiter,
    sniffDelimiter: !request.delimiter.explicit,
    workers: request.workers,
    rejects,
    log: request.log,
    journalDir: request.journal,
    journalKeys: request.journalKeys,
    signal: stop.signal,
    pool,
    onOpen: (info) => logRecovery(log, request.journal, info),
    onProgress: (bytes, rows) => progress.update(bytes, rows),
    onBatchApplied: metrics ? (shard, ms) => metrics.observeBatch(shard, ms) : undefined,
  });
  progress.stop();
  const stoppedBy = stop.stoppedBy;
  if (result.interrupted && stoppedBy !== undefined) {
    const held = result.journal;
    const how =
      held === undefined
        ? 'nothing was saved (run with --journal DIR to make a run resumable)'
        : held.complete
          ? 'the journal holds the whole input (its run had finished)'
          : `the journal holds every row up to line ${held.heldLine}; run the same command again to resume`;
    throw new RunError(`stopped by ${stoppedBy} after line ${result.lastLine}: ${how}`, signalExitCodes[stoppedBy]);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  return { result, report: buildReport(result.summary, wallSeconds), metrics, wallSeconds };
}

function logRecovery(log: Logger, journal: string | undefined, info: OpenInfo): void {
  if (!info.resumed) return;
  const what = info.complete
    ? 'its run had finished; nothing will be applied again'
    : `resuming (every shard has applied its rows up to line ${info.resumeLine})`;
  log.info(
    { recovery: info },
    `journal ${journalDisplay(journal!)}: ${what}; recovery took ${Math.round(info.recoveryMs)} ms`,
  );
}

/**
 * Report, metrics and accounts to their temporary files, every output written to the end and fsynced
 * (a device such as /dev/full fails here); only then standard output; then every file renamed into
 * place. So a failure before standard output leaves nothing on it, and one on it leaves no file.
 */
async function writeOutputs(
  request: ProcessRequest,
  outputs: OutputSet,
  io: CliIo,
  done: Finished,
  signal: AbortSignal,
): Promise<void> {
  if (request.report) {
    await (await outputs.open(request.report, '--report')).write(`${JSON.stringify(done.report, null, 2)}\n`);
  }
  if (done.metrics && request.metrics) {
    const text = await done.metrics.text(done.result.summary, done.wallSeconds);
    await (await outputs.open(request.metrics, '--metrics')).write(text);
  }
  if (request.output) await (await outputs.open(request.output, '--output')).write(done.result.accountsCsv);
  await outputs.finish();
  if (!request.output) await io.stdout(done.result.accountsCsv, signal);
  await outputs.publish();
}

/** The bar starts with the first rows routed: the input and its header have been checked by then. */
class LazyProgress {
  totalBytes: number | undefined;
  private bar: Progress | undefined;

  constructor(private readonly terminal: TerminalWriter | undefined) {}

  update(bytes: number, rows: number): void {
    this.bar ??= this.terminal ? createProgress(this.terminal, this.totalBytes) : noProgress;
    this.bar.update(bytes, rows);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = noProgress;
  }
}
