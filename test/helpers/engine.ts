/**
 * Runs the built pipeline in-process (the worker threads load dist/pool/worker.js, so tests run
 * after `npm run build`, as `npm test` does).
 */
import { readFileSync } from 'node:fs';
// @ts-expect-error: compiled output, typed by its source
import { processFile as processFileBuilt } from '../../dist/pipeline/process-file.js';
// @ts-expect-error: compiled output, typed by its source
import { RejectsSink as RejectsSinkBuilt } from '../../dist/pipeline/rejects-sink.js';
import type { processFile as ProcessFile } from '../../src/pipeline/process-file.js';
import type { RejectsSink as RejectsSinkType } from '../../src/pipeline/rejects-sink.js';

const processFile = processFileBuilt as typeof ProcessFile;
const RejectsSink = RejectsSinkBuilt as typeof RejectsSinkType;

export async function runCsv(
  input: string,
  workers: number,
  rejectsPath: string,
): Promise<{ accounts: string; rejects: string }> {
  const rejects = await RejectsSink.open(rejectsPath);
  const result = await processFile({ input, workers, rejects });
  await rejects.commit();
  return { accounts: result.accountsCsv, rejects: readFileSync(rejectsPath, 'utf8') };
}
