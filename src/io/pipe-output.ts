/**
 * Writing a named pipe without tying up libuv's threadpool. Through fs, opening a FIFO for writing
 * blocks until a reader opens it, and a write blocks while its reader is stalled: each holds a
 * threadpool thread that nothing can interrupt, so a stop request (and process.exit, which joins
 * those threads) would wait for ever. Here the open is O_NONBLOCK, retried until a reader comes or
 * the run is stopped, and writes go through a libuv pipe stream (epoll), which a stop abandons.
 */
import { fifoReaderPollMs } from '../constants.js';
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { errorCode, StoppedWaiting } from '../errors.js';

/** The part of a FileHandle an OutputFile uses, so a pipe can stand in for a file. */
export interface OutputHandle {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
  /** Stops waiting on the reader: what is pending is dropped and later writes do nothing. */
  abandon?(): void;
  /** True once abandoned: what was written is incomplete. */
  readonly abandoned?: boolean;
}

/** How a FIFO output is opened: `signal` (the run's stop request) ends the wait for a reader. */
export interface FifoOptions {
  readonly signal?: AbortSignal;
  /** Told once when the FIFO has no reader yet, so a waiting run says why it waits. */
  readonly onWait?: (message: string) => void;
}

/**
 * Opens a FIFO for writing once a reader has it open. A stop request ends the wait with
 * StoppedWaiting and, once the FIFO is open, abandons its writes.
 */
export async function openFifo(path: string, what: string, options: FifoOptions = {}): Promise<OutputHandle> {
  const { signal, onWait } = options;
  let told = false;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if (errorCode(error) !== 'ENXIO') throw error; // ENXIO: no reader yet
      if (signal?.aborted) throw new StoppedWaiting(`while waiting for a reader of ${what}`);
      if (!told) onWait?.(`${what}: waiting for a reader of the named pipe`);
      told = true;
      await waitOrStop(fifoReaderPollMs, signal);
      continue;
    }
    try {
      return new PipeHandle(new Socket({ fd, readable: false, writable: true }), signal);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }
}

function waitOrStop(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

class PipeHandle implements OutputHandle {
  abandoned = false;
  private readonly onAbort = () => this.abandon();

  constructor(
    private readonly socket: Socket,
    private readonly signal: AbortSignal | undefined,
  ) {
    // Errors reach the write and end callbacks; without a listener they would also be thrown.
    socket.on('error', () => undefined);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }> {
    return new Promise((resolve, reject) => {
      if (this.abandoned) return resolve({ bytesWritten: length });
      this.socket.write(buffer.subarray(offset, offset + length), (error) =>
        error && !this.abandoned ? reject(error) : resolve({ bytesWritten: length }),
      );
    });
  }

  async sync(): Promise<void> {
    // A pipe has nothing to flush to disk.
  }

  /** Ends the stream once the reader has taken everything (a stop still abandons it meanwhile). */
  close(): Promise<void> {
    if (this.abandoned || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.socket.end((error?: Error | null) => {
        this.signal?.removeEventListener('abort', this.onAbort);
        this.socket.destroy();
        if (error && !this.abandoned) reject(error);
        else resolve();
      }),
    );
  }

  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }
}
