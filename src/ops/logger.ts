/**
 * Structured logs on stderr (pino). Off a terminal every line is one JSON object with the level as
 * a name (`"level":"warn"`), for schedulers and log shippers. On a terminal a short readable line
 * (`12:01:02 WARN  message`), coloured unless NO_COLOR or --no-color, written through the terminal
 * writer so that a progress bar is cleared and redrawn around it. Worker threads build the same
 * logger from a LogConfig, tagged with their shard. Writes are synchronous: nothing is lost at exit.
 */
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { terminalSafeJson } from '../text.js';
import { prettyLine, type LogConfig } from './log-format.js';

export { colorWanted, jsonLine, logLevels, prettyLine, type LogConfig, type LogLevel } from './log-format.js';

/** Where finished lines go: the terminal writer on the main thread, fd 2 in workers. */
export interface LineSink {
  write(text: string): void;
}

/** fd 2; synchronous in a worker thread, whose process.stderr is an asynchronous pipe to the main thread. */
export const stderrSink: LineSink = {
  write: (text) => (isMainThread ? void process.stderr.write(text) : void writeSync(2, text)),
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
  };
  if (config.pretty) {
    const color = config.color ?? false;
    // A worker thread cannot see the main thread's bar: clear the line so the log is not drawn over it.
    const clear = sink === stderrSink ? '\r\x1b[2K' : '';
    return pino(options, { write: (line: string) => sink.write(clear + prettyLine(line, color)) });
  }
  if (sink === stderrSink) return pino(options, pino.destination({ dest: 2, sync: true }));
  return pino(options, { write: (line: string) => sink.write(line) });
}
