/**
 * A progress bar on stderr (cli-progress) while a file is read: bytes read of the total, rows/s and
 * the ETA; rows and rows/s alone for stdin, whose size is unknown. Only for a terminal.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(bytesRead: number, rowsRead: number): void;
  stop(): void;
}

export const noProgress: Progress = { update: () => undefined, stop: () => undefined };

export function createProgress(totalBytes: number | undefined): Progress {
  const started = performance.now();
  const sized = totalBytes !== undefined && totalBytes > 0;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: sized
        ? 'payments [{bar}] {percentage}% | {mb}/{totalMb} MB | {rows} rows | {rate} rows/s | ETA {eta_formatted}'
        : 'payments {rows} rows | {mb} MB | {rate} rows/s',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  bar.start(sized ? totalBytes : 1, 0, { mb: '0.0', totalMb: sized ? mb(totalBytes) : '?', rows: 0, rate: 0 });
  return {
    update(bytesRead, rowsRead) {
      const seconds = (performance.now() - started) / 1000;
      const payload = { mb: mb(bytesRead), rows: rowsRead, rate: seconds > 0 ? Math.round(rowsRead / seconds) : 0 };
      bar.update(sized ? Math.min(bytesRead, totalBytes) : 0, payload);
    },
    stop() {
      bar.stop();
    },
  };
}
