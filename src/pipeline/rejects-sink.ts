/**
 * The `--rejects FILE` output. Written to a temporary file beside FILE and renamed into place only
 * when the run succeeds, so a failed run never leaves a partial list that looks complete.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { rejectsHeader } from '../io/csv-writer.js';
import { errorCode, usageError } from '../errors.js';

export class RejectsSink {
  private constructor(
    private readonly path: string,
    private readonly tempPath: string,
    private readonly stream: WriteStream,
  ) {}

  static async open(path: string): Promise<RejectsSink> {
    const tempPath = `${path}.partial-${process.pid}`;
    try {
      const stream = createWriteStream(tempPath);
      await once(stream, 'open');
      const sink = new RejectsSink(path, tempPath, stream);
      await sink.write(rejectsHeader);
      return sink;
    } catch (error) {
      throw usageError(`${path}: cannot write the rejects file (${errorCode(error) ?? String(error)})`);
    }
  }

  async write(text: string): Promise<void> {
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async commit(): Promise<void> {
    this.stream.end();
    await once(this.stream, 'finish');
    await rename(this.tempPath, this.path);
  }

  async discard(): Promise<void> {
    this.stream.destroy();
    await rm(this.tempPath, { force: true });
  }
}
