/**
 * Streams a generated dataset to a sink (an OutputFile or standard output) with an optional
 * progress callback. The sink decides what a failure leaves behind: an OutputFile is renamed into
 * place only when every row is written.
 */
import { generateCsv, type GenerateOptions } from './generator.js';

export interface DatasetSink {
  write(text: string): Promise<void>;
}

export async function writeDataset(
  options: GenerateOptions,
  sink: DatasetSink,
  onProgress?: (bytes: number, rows: number) => void,
): Promise<{ bytes: number }> {
  let bytes = 0;
  let rows = 0;
  for (const piece of generateCsv(options)) {
    bytes += Buffer.byteLength(piece);
    await sink.write(piece);
    if (onProgress) {
      rows += countNewlines(piece);
      onProgress(bytes, Math.min(rows, options.rows));
    }
  }
  return { bytes };
}

function countNewlines(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}
