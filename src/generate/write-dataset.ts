/** Streams a generated dataset to a file or stdout with backpressure and an optional progress bar. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { errorCode, usageError } from '../errors.js';
import { generateCsv, type GenerateOptions } from './generator.js';

export async function writeDataset(
  options: GenerateOptions,
  out: string,
  showProgress: boolean,
): Promise<{ bytes: number }> {
  const stream: Writable = out === '-' ? process.stdout : createWriteStream(out);
  if (out !== '-') {
    try {
      await once(stream, 'open');
    } catch (error) {
      throw usageError(`${out}: cannot write (${errorCode(error) ?? String(error)})`);
    }
  }
  const bar = showProgress
    ? new cliProgress.SingleBar(
        { format: 'generate [{bar}] {percentage}% | {value}/{total} rows | ETA {eta}s', stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(options.rows, 0);
  let bytes = 0;
  let rowsDone = 0;
  try {
    for (const piece of generateCsv(options)) {
      bytes += Buffer.byteLength(piece);
      if (!stream.write(piece)) await once(stream, 'drain');
      if (bar) {
        rowsDone += countNewlines(piece);
        bar.update(Math.min(rowsDone, options.rows));
      }
    }
    if (out !== '-') {
      stream.end();
      await once(stream, 'finish');
    }
  } finally {
    bar?.stop();
  }
  return { bytes };
}

function countNewlines(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}
