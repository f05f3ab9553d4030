/** `payments generate`: check the output path, write the dataset, and rename it into place. */
import type { GenerateOptions } from '../generate/generator.js';
import { writeDataset } from '../generate/write-dataset.js';
import { OutputFile } from '../io/output-file.js';
import { checkOutputs } from '../io/output-paths.js';
import { createProgress, formatCount, TerminalWriter } from '../ops/progress.js';
import { jsonLine } from '../ops/log-format.js';
import { printable } from '../text.js';
import type { CliIo } from './io.js';

export async function runGenerate(
  options: GenerateOptions,
  out: string,
  show: { quiet: boolean; progress: boolean },
  io: CliIo,
): Promise<void> {
  const toStdout = out === '-';
  await checkOutputs(toStdout ? { stdout: true } : { outputs: [{ option: 'OUT', path: out }] });
  const file = toStdout ? undefined : await OutputFile.open(out, { option: 'OUT' });
  const terminal = io.stderrIsTty ? new TerminalWriter() : undefined;
  const progress = show.progress && terminal ? createProgress(terminal, undefined, 'generate') : undefined;
  const started = performance.now();
  try {
    const { bytes } = await writeDataset(
      options,
      file ?? { write: (text) => io.stdout(text) },
      progress && ((b, rows) => progress.update(b, rows)),
    );
    progress?.stop();
    await file?.commit();
    const seconds = (performance.now() - started) / 1000;
    if (toStdout || show.quiet) return;
    const message =
      `generated ${formatCount(options.rows)} rows (${(bytes / 1e6).toFixed(1)} MB) for ${formatCount(options.clients)} ` +
      `clients in ${seconds.toFixed(2)} s → ${out}`;
    io.stderr(terminal ? `${printable(message)}\n` : jsonLine('info', message, { rows: options.rows, bytes, out }));
  } catch (error) {
    progress?.stop();
    await file?.discard();
    throw error;
  }
}
