/**
 * The `--rejects FILE` output: the rejects header, then rejected rows in input order. It is an
 * OutputFile, so the list appears only when the run succeeds (renamed into place, with the run's
 * other outputs when it is part of an OutputSet) and a failed run never leaves a partial list that
 * looks complete.
 */
import { rejectsHeader } from '../io/csv-writer.js';
import { OutputFile } from '../io/output-file.js';

export class RejectsSink {
  private constructor(private readonly file: OutputFile) {}

  /** A sink over a file the caller commits or discards (with the run's other outputs). */
  static async over(file: OutputFile): Promise<RejectsSink> {
    const sink = new RejectsSink(file);
    await sink.write(rejectsHeader);
    return sink;
  }

  /** A sink that owns its file: call commit() or discard(). */
  static async open(path: string): Promise<RejectsSink> {
    return RejectsSink.over(await OutputFile.open(path, { option: '--rejects' }));
  }

  write(text: string): Promise<void> {
    return this.file.write(text);
  }

  commit(): Promise<void> {
    return this.file.commit();
  }

  discard(): Promise<void> {
    return this.file.discard();
  }
}
