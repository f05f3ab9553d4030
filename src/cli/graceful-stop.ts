/**
 * SIGINT / SIGTERM during a run: the first asks for a graceful stop (stop reading, drain the batches
 * in flight, flush the journal); a second ends the process at once, by that signal.
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
      dispose();
      dieBy(name);
    }
    stoppedBy = name;
    controller.abort();
    log.warn(
      `${name}: stopping after the batches in flight${journal ? ' and flushing the journal' : ''} (send it again to exit at once)`,
    );
  };
  const onInt = () => handle('SIGINT');
  const onTerm = () => handle('SIGTERM');
  const dispose = () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    get stoppedBy() {
      return stoppedBy;
    },
    dispose,
  };
}

/**
 * Ends the process by `name` itself, after removing this run's temporary files (synchronously: no
 * async clean-up runs). Not process.exit: it first joins libuv's threadpool, where an open or a
 * write of a FIFO nobody reads, or a read of a stalled input, can block for ever. With no listener
 * left, Node gives the signal back its default action, and re-raising it kills the process at once;
 * a shell reports 128 + n (130 / 143), the same as a graceful stop.
 */
function dieBy(name: StopSignal): never {
  removeTempFilesSync();
  if (process.listenerCount(name) === 0) process.kill(process.pid, name);
  // Only reached if something else still listens for the signal.
  process.exit(signalExitCodes[name]);
}
