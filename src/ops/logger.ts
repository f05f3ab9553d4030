/**
 * Structured logs on stderr (pino): JSON lines when stderr is not a terminal (for schedulers and log
 * shippers), pino-pretty's readable lines when it is. Written synchronously so that nothing is lost
 * when the process exits. Worker threads build the same logger from a LogConfig, tagged with their
 * shard.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number] & LevelWithSilent;

export interface LogConfig {
  readonly level: LogLevel;
  readonly pretty: boolean;
}

export function createLogger(config: LogConfig, bindings: Record<string, unknown> = {}): Logger {
  const options = { level: config.level, base: { pid: process.pid, ...bindings } };
  if (config.pretty) {
    return pino(
      options,
      pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
    );
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}
