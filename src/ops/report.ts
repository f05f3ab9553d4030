/**
 * The run report: what a run read, accepted and rejected, and what it cost. Printed on stderr at the
 * end of a run and, with `--report FILE`, written as JSON (schema: README, "Run report").
 */
import { lostLogLines } from './log-format.js';
import type { RunSummary } from './run-summary.js';

const reportSchemaVersion = 1;

export interface RunReport {
  schemaVersion: typeof reportSchemaVersion;
  input: string;
  inputBytes: number | null;
  rowsRead: number;
  /** Physical lines: header + blank + rows = physical − quotedLineBreaks (no row lost uncounted). */
  lines: { physical: number; header: number; blank: number; rows: number; quotedLineBreaks: number };
  rowsAccepted: number;
  rowsRejected: number;
  rejectedByReason: Record<string, number>;
  rowsByType: Record<string, number>;
  accounts: number;
  lockedAccounts: number;
  workers: number;
  eventsAppended: number;
  journalRecords: number;
  storedTransactions: number;
  wallSeconds: number;
  txPerSecond: number;
  peakRssBytes: number;
  /** Log lines standard error refused (full, closed) before this report was made; the run goes on. */
  logLinesLost: number;
}

export function buildReport(summary: RunSummary, wallSeconds: number): RunReport {
  return {
    schemaVersion: reportSchemaVersion,
    input: summary.inputName,
    inputBytes: summary.inputBytes ?? null,
    rowsRead: summary.rowsRead,
    lines: { ...summary.lines },
    rowsAccepted: summary.rowsAccepted,
    rowsRejected: summary.rowsRejected,
    rejectedByReason: summary.rejectedByReason,
    rowsByType: summary.rowsByType,
    accounts: summary.accounts,
    lockedAccounts: summary.lockedAccounts,
    workers: summary.workers,
    eventsAppended: summary.eventsAppended,
    journalRecords: summary.journalRecords,
    storedTransactions: summary.storedTxCount,
    wallSeconds: Number(wallSeconds.toFixed(3)),
    txPerSecond: wallSeconds > 0 ? Math.round(summary.rowsRead / wallSeconds) : 0,
    // maxRSS covers the whole process, every worker thread included (KiB on Linux).
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    logLinesLost: lostLogLines(),
  };
}

/** The end-of-run summary for a terminal: a few lines a person reads, instead of the JSON. */
export function summaryText(report: RunReport, color: boolean): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const bold = (text: string) => (color ? `\x1b[1m${text}\x1b[0m` : text);
  const reasons = Object.entries(report.rejectedByReason)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, count]) => `${reason} ${n(count)}`);
  const width = Math.max(...[report.rowsAccepted, report.rowsRejected, report.accounts].map((v) => n(v).length));
  const line = (label: string, value: number, tail = '') => `  ${label.padEnd(9)}${n(value).padStart(width)}${tail}\n`;
  return (
    `${bold(`${n(report.rowsRead)} rows`)} in ${report.wallSeconds.toFixed(2)} s (${n(report.txPerSecond)} rows/s)\n` +
    line('accepted', report.rowsAccepted) +
    line('rejected', report.rowsRejected, reasons.length > 0 ? `  (${reasons.join(', ')})` : '') +
    line('accounts', report.accounts, report.lockedAccounts > 0 ? `  (${n(report.lockedAccounts)} locked)` : '')
  );
}
