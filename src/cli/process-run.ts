/**
 * One `payments` run, composed: check every output path, open the outputs, process the input with
 * progress and graceful stop, then write the accounts, report and metrics, and rename every output
 * into place only once everything (standard output included) has succeeded. A failed run leaves no
 * output file; a run stopped by a signal neither.
 */
import { stat } from 'node:fs/promises';
import { RunError } from '../errors.js';
import { checkOutputPaths, type OutputPath } from '../io/output-paths.js';
import { OutputSet } from '../io/output-file.js';
import { createLogger, stderrSink, type LogConfig } from '../ops/logger.js';
import { createProgress, noProgress, TerminalWriter, type Progress } from '../ops/progress.js';
import { buildReport, summaryText } from '../ops/report.js';
import { RejectsSink } from '../pipeline/rejects-sink.js';
import { onStopSignals, signalExitCodes } from './graceful-stop.js';
import type { CliIo } from './io.js';

export interface ProcessRequest {
  readonly input: string;
  readonly workers: number;
  readonly output?: string;
  readonly rejects?: string;
  readonly report?: string;
  readonly metrics?: string;
  readonly journal?: string;
  readonly log: LogConfig;
  /** Draw the progress bar (a terminal, not --quiet, not --no-progress). */
  readonly progress: boolean;
}

export async function runProcess(request: ProcessRequest, io: CliIo): Promise<void> {
  const named: OutputPath[] = [
    { option: '--output', path: request.output },
    { option: '--rejects', path: request.rejects },
    { option: '--report', path: request.report },
    { option: '--metrics', path: request.metrics },
  ].filter((o): o is OutputPath => o.path !== undefined);
  await checkOutputPaths(request.input, named, request.journal);

  const terminal = io.stderrIsTty ? new TerminalWriter() : undefined;
  const log = createLogger(request.log, {}, terminal ?? stderrSink);
  const outputs = new OutputSet();
  const stop = onStopSignals(log, request.journal !== undefined);
  let progress: Progress | undefined;
  try {
    const rejects = request.rejects
      ? await RejectsSink.over(await outputs.open(request.rejects, '--rejects'))
      : undefined;
    const metrics = request.metrics ? new (await import('../ops/metrics.js')).RunMetrics() : undefined;
    const { processFile } = await import('../pipeline/process-file.js');
    const inputBytes =
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
      workers: request.workers,
      rejects,
      log: request.log,
      journalDir: request.journal,
      signal: stop.signal,
      onOpen: (info) => {
        if (!info.resumed) return;
        const what = info.complete
          ? 'its run had finished; nothing will be applied again'
          : `resuming (every shard has applied its rows up to line ${info.resumeLine})`;
        log.info(
          { recovery: info },
          `journal ${request.journal}: ${what}; recovery took ${Math.round(info.recoveryMs)} ms`,
        );
      },
      // The bar starts with the first rows: the input and its header have been checked by then.
      onProgress: (bytes, rows) => {
        progress ??= request.progress && terminal ? createProgress(terminal, inputBytes) : noProgress;
        progress.update(bytes, rows);
      },
      onBatchApplied: metrics ? (shard, ms) => metrics.observeBatch(shard, ms) : undefined,
    });
    progress?.stop();
    const stoppedBy = stop.stoppedBy;
    if (result.interrupted && stoppedBy !== undefined) {
      const how = request.journal
        ? `the journal holds every row up to line ${result.lastLine}; run the same command again to resume`
        : 'nothing was saved (run with --journal DIR to make a run resumable)';
      throw new RunError(`stopped by ${stoppedBy} after line ${result.lastLine}: ${how}`, signalExitCodes[stoppedBy]);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const report = buildReport(result.summary, wallSeconds);
    if (request.report)
      await (await outputs.open(request.report, '--report')).write(`${JSON.stringify(report, null, 2)}\n`);
    if (metrics && request.metrics) {
      await (await outputs.open(request.metrics, '--metrics')).write(await metrics.text(result.summary, wallSeconds));
    }
    if (request.output) await (await outputs.open(request.output, '--output')).write(result.accountsCsv);
    else await io.stdout(result.accountsCsv);
    await outputs.commit();
    if (terminal) {
      if (log.isLevelEnabled('info')) terminal.write(summaryText(report, request.log.color ?? false));
    } else {
      log.info(
        { report },
        `run complete: ${report.rowsRead} rows, ${report.rowsRejected} rejected, ${report.accounts} accounts in ${report.wallSeconds} s`,
      );
    }
  } catch (error) {
    progress?.stop();
    await outputs.discard();
    throw error;
  } finally {
    stop.dispose();
  }
}
