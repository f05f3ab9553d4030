/**
 * The terminal writer and the progress bar on stderr. Every line the program writes while the bar is
 * shown goes through `TerminalWriter.line`, which clears the bar, writes the line in full and draws
 * the bar again below it, so a warning is never cut or drawn over. The bar shows bytes of the total,
 * rows and the rate over the last few seconds (not the average since start), with thousands
 * separators; for stdin, whose size is unknown, rows and rate alone.
 */
import { progressRateWindowMs as rateWindowMs, progressRedrawMs as redrawEveryMs } from '../constants.js';
import { noteLostLogLine } from './log-format.js';
import type { LineSink } from './logger.js';

const barWidth = 24;

/** Made on first use: ICU's number formatter costs ~7 ms to build, at every start (measured). */
let count: Intl.NumberFormat | undefined;
export const formatCount = (n: number): string => (count ??= new Intl.NumberFormat('en-US')).format(Math.round(n));

export interface Progress {
  update(bytesRead: number, rowsRead: number): void;
  stop(): void;
}

export const noProgress: Progress = { update: () => undefined, stop: () => undefined };

/** Writes whole lines to stderr, keeping a status line (the bar) at the bottom. */
export class TerminalWriter implements LineSink {
  private status = '';

  constructor(
    private readonly out: {
      write(text: string, done?: (error?: Error | null) => void): unknown;
      columns?: number;
    } = process.stderr,
  ) {}

  /** A log line: one that cannot be written (a terminal gone) is counted, never thrown. */
  write(text: string): void {
    const done = (error?: Error | null) => void (error && noteLostLogLine());
    this.out.write(this.status === '' ? text : `\r\x1b[2K${text}${this.fit(this.status)}`, done);
  }

  setStatus(text: string): void {
    this.status = text;
    this.out.write(`\r\x1b[2K${this.fit(text)}`);
  }

  clearStatus(): void {
    if (this.status === '') return;
    this.status = '';
    this.out.write('\r\x1b[2K');
  }

  /** A status longer than the terminal would wrap and break `\r` redrawing. */
  private fit(text: string): string {
    const columns = this.out.columns || 120; // 0 under a pseudo-terminal with no size
    return text.length >= columns ? text.slice(0, Math.max(columns - 1, 0)) : text;
  }
}

export function createProgress(terminal: TerminalWriter, totalBytes: number | undefined, label = 'payments'): Progress {
  const sized = totalBytes !== undefined && totalBytes > 0;
  const samples: { ms: number; bytes: number; rows: number }[] = [];
  let drawnMs = 0;
  const draw = (bytes: number, rows: number, now: number) => {
    samples.push({ ms: now, bytes, rows });
    while (samples.length > 2 && now - samples[0]!.ms > rateWindowMs) samples.shift();
    const first = samples[0]!;
    const seconds = (now - first.ms) / 1000;
    const rowRate = seconds > 0 ? (rows - first.rows) / seconds : 0;
    const byteRate = seconds > 0 ? (bytes - first.bytes) / seconds : 0;
    const mb = (b: number) => (b / 1e6).toFixed(1);
    let text: string;
    if (sized) {
      const share = Math.min(bytes / totalBytes, 1);
      const filled = Math.round(share * barWidth);
      const eta = byteRate > 0 ? formatSeconds((totalBytes - Math.min(bytes, totalBytes)) / byteRate) : '?';
      text =
        `${label} [${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${Math.floor(share * 100)}% | ` +
        `${mb(bytes)}/${mb(totalBytes)} MB | ${formatCount(rows)} rows | ${formatCount(rowRate)} rows/s | ETA ${eta}`;
    } else {
      text = `${label} ${formatCount(rows)} rows | ${mb(bytes)} MB | ${formatCount(rowRate)} rows/s`;
    }
    terminal.setStatus(text);
    drawnMs = now;
  };
  let last = { bytes: 0, rows: 0 };
  draw(0, 0, performance.now());
  return {
    update(bytesRead, rowsRead) {
      last = { bytes: bytesRead, rows: rowsRead };
      const now = performance.now();
      if (now - drawnMs >= redrawEveryMs) draw(bytesRead, rowsRead, now);
    },
    stop() {
      draw(sized ? Math.max(last.bytes, totalBytes) : last.bytes, last.rows, performance.now());
      terminal.clearStatus();
    },
  };
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
