/**
 * An output file that is either complete or absent. A regular file is written to a temporary file
 * beside it, created exclusively (O_EXCL, never through a planted link) under a name no one can
 * guess, fsynced, then renamed over the target: a failed or killed run never leaves a partial file
 * that looks complete. A device or FIFO (`/dev/null`, `/dev/stderr`, a named pipe) is written in
 * place and never replaced.
 *
 * Temporary names are `.payments-<pid>-<16 hex>.tmp` (output-names.ts): a later run writing into the
 * same directory removes those whose process is gone, so repeated crashes do not fill the disk.
 */
import { outputFlushBytes, outputTempAttempts } from '../constants.js';
import { randomBytes } from 'node:crypto';
import { constants, readFileSync, unlinkSync } from 'node:fs';
import { lstat, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorCode, RunError, runFailure, StoppedWaiting } from '../errors.js';
import { randomHexLength, tempName, tempNamePattern, writtenInPlace } from './output-names.js';
import { openFifo, type FifoOptions, type OutputHandle } from './pipe-output.js';
import { resolveReal } from './real-path.js';

/** Every temporary file of this process not yet renamed or removed: a second signal removes them at once. */
const liveTemps = new Set<string>();

/** Removes this process's temporary files synchronously (the second SIGINT/SIGTERM exits at once). */
export function removeTempFilesSync(): void {
  for (const path of liveTemps) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  liveTemps.clear();
}

/** One line for a failed write: a full disk says so in words. */
function writeFailure(label: string, error: unknown): Error {
  if (error instanceof RunError || error instanceof StoppedWaiting) return error;
  const code = errorCode(error);
  if (code === 'ENOSPC') return runFailure(`${label}: no space left on device (ENOSPC)`);
  if (code === 'EDQUOT') return runFailure(`${label}: disk quota exceeded (EDQUOT)`);
  return runFailure(`${label}: cannot write (${code ?? String(error)})`);
}

export interface OutputFileOptions extends FifoOptions {
  /** How the user named the path, for messages (`--rejects`). */
  readonly option: string;
  /** Test seam: the random part of the temporary name. */
  readonly randomPart?: () => string;
}

export class OutputFile {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;
  private finished = false;

  private constructor(
    readonly path: string,
    readonly option: string,
    private readonly handle: FileHandle | OutputHandle,
    /** Undefined when written in place (a device or FIFO). */
    private readonly temp: { path: string; target: string } | undefined,
  ) {}

  static async open(path: string, options: OutputFileOptions): Promise<OutputFile> {
    const { option } = options;
    try {
      const info = await stat(path).catch(() => undefined);
      if (info?.isFIFO()) {
        return new OutputFile(path, option, await openFifo(path, `${option} ${path}`, options), undefined);
      }
      if (info !== undefined && writtenInPlace(path, info)) {
        // A device, or a /dev/stdout-like link: write in place; append so a redirected log survives.
        const flags = constants.O_WRONLY | (info.isFile() ? constants.O_APPEND : 0);
        return new OutputFile(path, option, await open(path, flags), undefined);
      }
      const target = await realTarget(path);
      await removeStrayTemps(target);
      const random = options.randomPart ?? (() => randomBytes(randomHexLength / 2).toString('hex'));
      for (let attempt = 1; ; attempt++) {
        const tempPath = join(dirname(target), tempName(process.pid, random()));
        try {
          const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
          const handle = await open(tempPath, flags, info ? info.mode & 0o777 : 0o666);
          liveTemps.add(tempPath);
          return new OutputFile(path, option, handle, { path: tempPath, target });
        } catch (error) {
          if (errorCode(error) !== 'EEXIST' || attempt >= outputTempAttempts) throw error;
        }
      }
    } catch (error) {
      throw writeFailure(`${option} ${path}`, error);
    }
  }

  /** True when the output is a device or FIFO, written as it goes. */
  get inPlace(): boolean {
    return this.temp === undefined;
  }

  /** True when a stop abandoned this output (a FIFO): what its reader got is incomplete. */
  get abandoned(): boolean {
    return 'abandoned' in this.handle && this.handle.abandoned === true;
  }

  async write(data: string | Buffer): Promise<void> {
    const buffer = typeof data === 'string' ? Buffer.from(data) : data;
    this.pending.push(buffer);
    this.pendingBytes += buffer.length;
    if (this.pendingBytes >= outputFlushBytes) await this.flush();
  }

  /** Writes what is left, fsyncs, and renames the temporary file over the target. */
  async commit(): Promise<void> {
    await this.finish();
    await this.publish();
  }

  /**
   * Everything written and on disk (fsynced), closed, but not yet renamed: after this only the rename
   * is left, so a run can finish every output before it writes standard output.
   */
  async finish(): Promise<void> {
    if (this.done || this.finished) return;
    this.finished = true;
    try {
      await this.flush();
      if (this.temp !== undefined) await this.handle.sync();
      await this.handle.close();
    } catch (error) {
      this.done = true;
      await this.handle.close().catch(() => undefined);
      await this.removeTemp();
      throw writeFailure(`${this.option} ${this.path}`, error);
    }
  }

  /** Renames a finished temporary file over its target (nothing to do for a device or FIFO). */
  async publish(): Promise<void> {
    const dir = await this.rename();
    if (dir !== undefined) await syncDirectory(dir);
  }

  /** The rename alone; returns the directory to flush (undefined when nothing was renamed). */
  async rename(): Promise<string | undefined> {
    if (this.done) return undefined;
    if (!this.finished) await this.finish();
    this.done = true;
    if (this.temp === undefined) return undefined;
    try {
      await rename(this.temp.path, this.temp.target);
      liveTemps.delete(this.temp.path);
      return dirname(this.temp.target);
    } catch (error) {
      await this.removeTemp();
      throw writeFailure(`${this.option} ${this.path}`, error);
    }
  }

  /** Drops the output: the temporary file is removed and the target left as it was. */
  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    // A FIFO's reader may be stalled: ending the stream would wait for it.
    if ('abandon' in this.handle) this.handle.abandon?.();
    if (!this.finished) await this.handle.close().catch(() => undefined);
    await this.removeTemp();
  }

  private async removeTemp(): Promise<void> {
    if (this.temp === undefined) return;
    liveTemps.delete(this.temp.path);
    await unlink(this.temp.path).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      // write(2) may write less than asked (a disk filling up): go on until all is written or it fails.
      for (let at = 0; at < data.length;) {
        const { bytesWritten } = await this.handle.write(data, at, data.length - at);
        if (bytesWritten <= 0) throw Object.assign(new Error('no progress writing'), { code: 'ENOSPC' });
        at += bytesWritten;
      }
    } catch (error) {
      throw writeFailure(`${this.option} ${this.path}`, error);
    }
  }
}

/** The outputs of one run: committed together after success, discarded together on failure. */
export class OutputSet {
  private readonly files: OutputFile[] = [];

  /** `fifo`: the run's stop request, which ends waits on a FIFO's reader, and who is told of a wait. */
  constructor(private readonly fifo: FifoOptions = {}) {}

  async open(path: string, option: string): Promise<OutputFile> {
    const file = await OutputFile.open(path, { option, ...this.fifo });
    this.files.push(file);
    return file;
  }

  async commit(): Promise<void> {
    await this.finish();
    await this.publish();
  }

  /** Every file written to the end and fsynced (devices written), none renamed yet; on failure all are dropped. */
  async finish(): Promise<void> {
    try {
      for (const file of this.files) await file.finish();
      // Its reader got only part: the run cannot end as if complete.
      const abandoned = this.files.find((file) => file.abandoned);
      if (abandoned) throw new StoppedWaiting(`while ${abandoned.option} ${abandoned.path} was not being read`);
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  /**
   * Every finished file renamed into place, the renames back to back (a process killed between two
   * of them leaves one output new and the other old: no two renames are one atomic step, so the
   * instant is kept to a system call), then each directory flushed to disk.
   */
  async publish(): Promise<void> {
    try {
      const dirs = new Set<string>();
      for (const file of this.files) {
        const dir = await file.rename();
        if (dir !== undefined) dirs.add(dir);
      }
      for (const dir of dirs) await syncDirectory(dir);
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  async discard(): Promise<void> {
    for (const file of this.files) await file.discard();
  }
}

/**
 * The file a rename must replace: a link is followed (a dangling one to the file it names), so the
 * link itself stays a link and the file it points at is written.
 */
const realTarget = (path: string): Promise<string> => resolveReal(path);

/** Removes the temporary files beside `target` left by runs that no longer exist. */
async function removeStrayTemps(target: string): Promise<void> {
  const dir = dirname(target);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = tempNamePattern.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    const path = join(dir, name);
    // unlink never follows a link: a planted link is removed, never what it points at.
    const info = await lstat(path).catch(() => undefined);
    if (info !== undefined && (info.isFile() || info.isSymbolicLink())) await unlink(path).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return errorCode(error) === 'EPERM'; // exists, but someone else's
  }
  return !isZombie(pid);
}

/** A zombie has exited and only waits for its parent to reap it: kill(pid, 0) still succeeds. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) S …`: comm may hold spaces and parentheses, so the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc here: kill(pid, 0) is all there is
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself has happened.
  }
}
