/**
 * Structured logs on stderr (pino). Off a terminal every line is one JSON object with the level as
 * a name (`"level":"warn"`), for schedulers and log shippers. On a terminal a short readable line
 * (`12:01:02 WARN  message`), coloured unless NO_COLOR or --no-color, written through the terminal
 * writer so that a progress bar is cleared and redrawn around it. Worker threads build the same
 * logger from a LogConfig, tagged with their shard.
 *
 * A line that cannot be written (a full log disk, a closed or broken stderr) is dropped and counted
 * (`lostLogLines`), never thrown: logs are diagnostics, and the run's result does not depend on them.
 * The main thread writes through process.stderr, which never blocks its event loop (a stalled
 * reader of a pipe must not keep signals from being handled); a worker thread, whose
 * process.stderr is an asynchronous pipe to the main thread, writes fd 2 synchronously, so its
 * lines are not lost when it ends.
 *
 * A logger made while tracing is on (ops/tracing.ts) adds trace_id and span_id to every line
 * written inside a span.
 */
import { isMainThread } from 'node:worker_threads';
import { pino, type DestinationStream, type Logger } from 'pino';
import { terminalSafeJson } from '../text.js';
import { noteLostLogLine, prettyLine, type LogConfig } from './log-format.js';
import { traceIds, tracingOn } from './tracing.js';

export {
  colorWanted,
  jsonLine,
  logLevels,
  lostLogLines,
  prettyLine,
  type LogConfig,
  type LogLevel,
} from './log-format.js';

/** Where finished lines go: the terminal writer on the main thread, fd 2 in workers. */
export interface LineSink {
  write(text: string): void;
}

/** fd 2 in a worker thread: synchronous (EAGAIN on a full pipe is retried), errors counted. */
let workerStderr: DestinationStream | undefined;
function workerSink(): DestinationStream {
  if (workerStderr === undefined) {
    const stream = pino.destination({ dest: 2, sync: true });
    stream.on('error', noteLostLogLine);
    workerStderr = stream;
  }
  return workerStderr;
}

export const stderrSink: LineSink = {
  write: (text) => {
    if (isMainThread) process.stderr.write(text, (error) => error && noteLostLogLine());
    else workerSink().write(text);
  },
};

export function createLogger(
  config: LogConfig,
  bindings: Record<string, unknown> = {},
  sink: LineSink = stderrSink,
): Logger {
  const options = {
    level: config.level,
    base: { pid: process.pid, ...bindings },
    formatters: { level: (label: string) => ({ level: label }) },
    // JSON escapes C0 controls but not C1 or bidi overrides, which a log `cat` to a terminal would obey.
    hooks: { streamWrite: terminalSafeJson },
    // While tracing is on, a line written inside a span names it (trace_id, span_id).
    ...(tracingOn() ? { mixin: traceIds } : {}),
  };
  const color = config.color ?? false;
  // A worker thread cannot see the main thread's bar: clear the line so the log is not drawn over it.
  const clear = config.pretty && sink === stderrSink ? '\r\x1b[2K' : '';
  const format = config.pretty ? (line: string) => clear + prettyLine(line, color) : (line: string) => line;
  return pino(options, {
    write: (line: string) => {
      try {
        sink.write(format(line));
      } catch {
        noteLostLogLine(); // a sink that throws (a synchronous write to a broken stderr)
      }
    },
  });
}
