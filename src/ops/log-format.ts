/**
 * Log levels and line formats, without pino: the CLI's argument checks and its final error line
 * use these, and `--help` must not pay for loading a logger.
 */
import type { LevelWithSilent } from 'pino';
import { printable, terminalSafeJson } from '../text.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number] & LevelWithSilent;

export interface LogConfig {
  readonly level: LogLevel;
  /** Readable lines for a terminal instead of JSON. */
  readonly pretty: boolean;
  /** ANSI colours in readable lines. */
  readonly color?: boolean;
}

const levelColours: Record<string, string> = {
  fatal: '\x1b[41m',
  error: '\x1b[31m',
  warn: '\x1b[33m',
  info: '\x1b[32m',
  debug: '\x1b[90m',
  trace: '\x1b[90m',
};
const standardKeys = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** One readable line from pino's JSON: time, level, message, then any other fields compactly. */
export function prettyLine(json: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = String(entry.level);
  const time = new Date(Number(entry.time)).toTimeString().slice(0, 8);
  const name = level.toUpperCase().padEnd(5);
  const extras = Object.fromEntries(Object.entries(entry).filter(([key]) => !standardKeys.has(key)));
  const tail = Object.keys(extras).length > 0 ? ` ${terminalSafeJson(JSON.stringify(extras))}` : '';
  const label = color ? `${levelColours[level] ?? ''}${name}\x1b[0m` : name;
  // The message may echo a path or value the user typed: one line, no control sequences.
  return `${time} ${label} ${printable(String(entry.msg ?? ''))}${tail}\n`;
}

/** One JSON log line, shaped like pino's, for messages written without a logger (the final error). */
export function jsonLine(level: string, msg: string, fields: Record<string, unknown> = {}): string {
  return `${terminalSafeJson(JSON.stringify({ level, time: Date.now(), pid: process.pid, ...fields, msg }))}\n`;
}

/** Whether colour is wanted: --no-color or a non-empty NO_COLOR turns it off (no-color.org). */
export function colorWanted(flag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

/**
 * Log lines this thread could not write (standard error full, closed or broken). Logs are
 * diagnostics: a lost line is counted, for the run report, and never fails the run.
 */
let lostLines = 0;
export const noteLostLogLine = (): void => void lostLines++;
export const lostLogLines = (): number => lostLines;
