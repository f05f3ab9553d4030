/**
 * The `--rejects FILE` output: the rejects header, then rejected rows in input order. It is an
 * OutputFile, so the list appears only when the run succeeds (renamed into place with the other
 * outputs) and a failed run never leaves a partial list that looks complete.
 */
import { rejectsHeader } from '../io/csv-writer.js';
import type { OutputFile } from '../io/output-file.js';

export class RejectsSink {
  private constructor(private readonly file: OutputFile) {}

  static async over(file: OutputFile): Promise<RejectsSink> {
    const sink = new RejectsSink(file);
    await sink.write(rejectsHeader);
    return sink;
  }

  write(text: string): Promise<void> {
    return this.file.write(text);
  }
}
