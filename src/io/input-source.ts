/**
 * Where input bytes come from: a file (whose size and identity are checked against what was read,
 * so a file that changes under the run is an error, never a partial result) or a stream (stdin),
 * with gzip-compressed input recognised by its magic bytes and decompressed as it is read.
 */
import { gzipReadBytes, readChunkBytes } from '../constants.js';
import { closeSync, constants, fstatSync, openSync, read, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { RunError, StoppedWaiting, describeError, errorCode, inputError, runFailure } from '../errors.js';

export interface InputSource {
  readonly name: string;
  readonly sizeBytes: number | undefined;
  /** Reads up to `length` bytes into `buffer` at `offset`; 0 at the end of the input. */
  read(buffer: Buffer, offset: number, length: number): Promise<number>;
  /** Bytes taken from the file or stream so far (compressed bytes for gzip input), for progress. */
  consumedBytes(): number;
  close(): Promise<void>;
}

/** `source`, showing `tap` every byte it reads. */
function tapped(source: InputSource, tap: (bytes: Buffer) => void): InputSource {
  return {
    name: source.name,
    sizeBytes: source.sizeBytes,
    async read(buffer, offset, length) {
      const n = await source.read(buffer, offset, length);
      if (n > 0) tap(buffer.subarray(offset, offset + n));
      return n;
    },
    consumedBytes: () => source.consumedBytes(),
    close: () => source.close(),
  };
}

/**
 * Opens a path or `-` (stdin) and looks at its first bytes: gzip data is decompressed on the fly.
 * A missing, unreadable or directory input is exit 2. `signal` ends a wait for a named pipe's writer.
 */
export async function openInput(
  path: string,
  signal?: AbortSignal,
  /** Shown every byte read from the file or stream, before any decompression (a checksum of what was read). */
  tap?: (bytes: Buffer) => void,
): Promise<InputSource> {
  const opened = path === '-' ? stdinSource() : await fileSource(path, signal);
  const raw = tap === undefined ? opened : tapped(opened, tap);
  try {
    return await decompressIfGzip(raw);
  } catch (error) {
    await raw.close();
    throw error;
  }
}

async function fileSource(path: string, signal: AbortSignal | undefined): Promise<InputSource> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw inputError(`${path}: is a directory, not a CSV file`);
    const handle = info.isFIFO() ? await openPipe(path, signal) : await open(path, 'r');
    // Size and identity of what was opened: a file that shrinks, grows or is replaced while it is
    // read gives exit 1 before its last bytes are used (so a cut last line is never applied).
    const start = await handle.stat();
    const regular = start.isFile();
    let consumed = 0;
    const changed = () => runFailure(`${path}: input changed while it was read`);
    return {
      name: path,
      sizeBytes: regular ? start.size : undefined,
      async read(buffer, offset, length) {
        const n = await handle.read(buffer, offset, length, null).then(
          (result) => result.bytesRead,
          (error: unknown) => {
            throw readFailure(path, consumed, error);
          },
        );
        consumed += n;
        if (!regular) return n;
        if (consumed > start.size) throw changed();
        if (n === 0) {
          const now = await handle.stat();
          const named = await stat(path).catch(() => undefined);
          if (consumed !== start.size || now.size !== start.size) throw changed();
          if (named === undefined || named.ino !== start.ino || named.dev !== start.dev) throw changed();
        }
        return n;
      },
      consumedBytes: () => consumed,
      close: () => handle.close(),
    };
  } catch (error) {
    if (error instanceof RunError || error instanceof StoppedWaiting) throw error;
    const code = errorCode(error);
    if (code === 'ENOENT') throw inputError(`${path}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw inputError(`${path}: permission denied`);
    if (code === 'EISDIR') throw inputError(`${path}: is a directory, not a CSV file`);
    throw inputError(`${path}: cannot open (${describeError(error)})`);
  }
}

/**
 * Opening a named pipe waits, in a libuv thread, for a writer; the process cannot end while it
 * does. A stop signal meanwhile opens the pipe for writing and closes it at once, which ends the
 * wait (the read side then sees no writer), and the run stops as it would mid-read.
 */
async function openPipe(path: string, signal: AbortSignal | undefined): Promise<FileHandle> {
  const stopped = () => new StoppedWaiting(`while waiting for a writer of the named pipe ${path}`);
  const aborted = () => signal?.aborted === true;
  if (aborted()) throw stopped(); // stopped before the wait began: the event is past
  const opening = open(path, 'r');
  const release = () => {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // the open finished meanwhile (ENXIO: no reader waits any more)
    }
  };
  signal?.addEventListener('abort', release, { once: true });
  try {
    const handle = await opening;
    if (!aborted()) return handle;
    await handle.close();
    throw stopped();
  } finally {
    signal?.removeEventListener('abort', release);
  }
}

/**
 * Standard input. Redirected from a file (`< file`), it is read with fs calls on descriptor 0, so a
 * read error is an error: node's stream over it ends quietly on some (EIO, EISDIR), and the run
 * would print no accounts with exit 0. A directory is exit 2; a pipe or terminal is read as a stream.
 */
function stdinSource(): InputSource {
  let info: Stats | undefined;
  try {
    info = fstatSync(0);
  } catch {
    info = undefined; // no descriptor 0: the stream says what happens
  }
  if (info?.isDirectory()) throw inputError('stdin: is a directory, not a CSV file');
  if (info === undefined || !info.isFile()) return streamSource('stdin', process.stdin);
  let consumed = 0;
  return {
    name: 'stdin',
    sizeBytes: undefined, // a redirected file may be read from an offset: no progress bar by size
    read: (buffer, offset, length) =>
      new Promise((resolve, reject) =>
        read(0, buffer, offset, length, null, (error, n) => {
          if (error === null) {
            consumed += n;
            resolve(n);
          } else reject(readFailure('stdin', consumed, error));
        }),
      ),
    consumedBytes: () => consumed,
    close: async () => undefined, // descriptor 0 stays the process's
  };
}

/** A read that failed: with nothing read yet the input is unreadable (exit 2); part-way, an I/O failure (exit 1). */
function readFailure(name: string, consumed: number, error: unknown): RunError {
  if (consumed === 0) return inputError(`${name}: cannot read (${describeError(error)})`);
  return runFailure(`${name}: read failed after ${consumed} bytes (${describeError(error)})`);
}

/** A stream (stdin) read through the same interface as a file. */
function streamSource(name: string, stream: Readable): InputSource {
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let consumed = 0;
  return {
    name,
    sizeBytes: undefined,
    // One chunk a read, as it comes: a read never waits for more than the stream has (a slow
    // producer's rows go on at once, and a stop signal is acted on between reads).
    async read(buffer, offset, length) {
      if (pending.length === 0) {
        const next = await chunks.next();
        if (next.done) return 0;
        pending = next.value;
        consumed += pending.length;
      }
      const n = pending.copy(buffer, offset, 0, Math.min(length, pending.length));
      pending = pending.subarray(n);
      return n;
    },
    consumedBytes: () => consumed,
    close: async () => {
      stream.destroy();
    },
  };
}

const gzipMagic = [0x1f, 0x8b] as const;

/** Peeks at the first two bytes; gzip data (1f 8b) is decompressed as it is read, anything else is passed through. */
async function decompressIfGzip(raw: InputSource): Promise<InputSource> {
  const head = Buffer.alloc(gzipMagic.length);
  let headLength = 0;
  while (headLength < head.length) {
    const n = await raw.read(head, headLength, head.length - headLength);
    if (n === 0) break;
    headLength += n;
  }
  const replayed = replayHead(raw, head.subarray(0, headLength));
  if (headLength < 2 || head[0] !== gzipMagic[0] || head[1] !== gzipMagic[1]) return replayed;
  return gunzipSource(replayed);
}

/** `raw` with `head` (bytes already read from it) put back in front. */
function replayHead(raw: InputSource, head: Buffer): InputSource {
  let rest = head;
  return {
    name: raw.name,
    sizeBytes: raw.sizeBytes,
    async read(buffer, offset, length) {
      if (rest.length === 0) return raw.read(buffer, offset, length);
      const n = rest.copy(buffer, offset, 0, Math.min(length, rest.length));
      rest = rest.subarray(n);
      return n;
    },
    consumedBytes: () => raw.consumedBytes(),
    close: () => raw.close(),
  };
}

/**
 * Decompresses a source as it is pulled: one compressed read is inflated only when the reader asks
 * for more, so memory stays bounded (zlib's window plus one read) whatever the file size.
 */
function gunzipSource(compressed: InputSource): InputSource {
  // Inflated in pieces up to a file read's size, not zlib's 16 KiB: a piece read is what the workers
  // are handed and what a journal batch holds.
  const gunzip = createGunzip({ chunkSize: readChunkBytes });
  gunzip.on('error', () => undefined); // reported through the reads below, never as an unhandled event
  async function* compressedReads(): AsyncGenerator<Buffer> {
    for (;;) {
      const buffer = Buffer.allocUnsafe(gzipReadBytes);
      const n = await compressed.read(buffer, 0, buffer.length);
      if (n === 0) return;
      yield buffer.subarray(0, n);
    }
  }
  let sourceError: unknown;
  const feed = async () => {
    try {
      for await (const piece of compressedReads()) {
        if (!gunzip.write(piece)) await new Promise((resolve) => gunzip.once('drain', resolve));
        if (gunzip.destroyed) return;
      }
      gunzip.end();
    } catch (error) {
      sourceError = error;
      gunzip.destroy(error as Error);
    }
  };
  void feed();
  const inflated = streamSource(compressed.name, gunzip);
  return {
    name: compressed.name,
    sizeBytes: compressed.sizeBytes,
    async read(buffer, offset, length) {
      try {
        return await inflated.read(buffer, offset, length);
      } catch (error) {
        if (sourceError instanceof RunError) throw sourceError;
        if (sourceError !== undefined)
          throw runFailure(`${compressed.name}: read failed: ${describeError(sourceError)}`);
        throw runFailure(`${compressed.name}: the gzip data is truncated or corrupt (${describeError(error)})`);
      }
    },
    consumedBytes: () => compressed.consumedBytes(),
    close: async () => {
      gunzip.destroy();
      await compressed.close();
    },
  };
}
