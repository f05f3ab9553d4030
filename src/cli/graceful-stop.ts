/**
 * SIGINT / SIGTERM during a run: the first asks for a graceful stop (stop reading, drain the batches
 * in flight, flush the journal); a second exits at once with the signal's code.
 */
import type { Logger } from 'pino';
import { removeTempFilesSync } from '../io/output-file.js';

export const signalExitCodes = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof signalExitCodes;

export interface GracefulStop {
  readonly signal: AbortSignal;
  /** The signal that asked for the stop, if one did. */
  readonly stoppedBy: StopSignal | undefined;
  /** Removes the handlers (call when the run ends, whatever its outcome). */
  dispose(): void;
}

export function onStopSignals(log: Logger, journal: boolean): GracefulStop {
  const controller = new AbortController();
  let stoppedBy: StopSignal | undefined;
  const handle = (name: StopSignal) => {
    if (stoppedBy !== undefined) {
      // process.exit runs no async clean-up: take this run's temporary files away first.
      removeTempFilesSync();
      process.exit(signalExitCodes[name]);
    }
    stoppedBy = name;
    controller.abort();
    log.warn(
      `${name}: stopping after the batches in flight${journal ? ' and flushing the journal' : ''} (send it again to exit at once)`,
    );
  };
  const onInt = () => handle('SIGINT');
  const onTerm = () => handle('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    get stoppedBy() {
      return stoppedBy;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
