/**
 * The outputs of `submit` and `result`, handled as the single-process run handles its own
 * (process-run.ts): paths checked before any work (the input, each other, standard output when it
 * is written), a path from the environment named by its variable; at the end every file written to
 * a temporary file and fsynced, only then standard output, then every file renamed into place. A
 * failure before standard output leaves nothing on it, and a failure leaves no output file.
 */
import { checkOutputs, type OutputPath } from '../../io/output-paths.js';
import { OutputSet } from '../../io/output-file.js';
import type { CliIo } from '../io.js';
import { cameFromEnvironment, envVariable } from '../options.js';

export interface ClusterOutputPaths {
  readonly output?: string;
  readonly rejects?: string;
  /** submit's run report (JSON) and Prometheus text metrics. */
  readonly report?: string;
  readonly metrics?: string;
}

/** Checks the output paths (and standard output, when the accounts go there) against the input and each other. */
export async function checkClusterOutputs(
  input: string | undefined,
  paths: ClusterOutputPaths,
  rawArgv: readonly string[],
  writesStdout: boolean,
): Promise<void> {
  const outputs: OutputPath[] = [];
  for (const option of ['output', 'rejects', 'report', 'metrics'] as const) {
    const path = paths[option];
    if (path === undefined) continue;
    const fromEnv = cameFromEnvironment(option, rawArgv, option === 'output' ? ['o'] : []);
    outputs.push({ option: `--${option}`, path, ...(fromEnv ? { variable: envVariable(option) } : {}) });
  }
  await checkOutputs({ input, outputs, stdout: writesStdout });
}

/** Rejects and accounts files finished, then standard output, then the files renamed into place. */
export async function writeClusterOutputs(
  paths: ClusterOutputPaths,
  csv: { readonly accountsCsv: string; readonly rejectsCsv: string | undefined },
  io: CliIo,
  extra: { readonly report?: string; readonly metrics?: string } = {},
): Promise<void> {
  const outputs = new OutputSet();
  try {
    if (paths.report !== undefined) await (await outputs.open(paths.report, '--report')).write(extra.report!);
    if (paths.metrics !== undefined) await (await outputs.open(paths.metrics, '--metrics')).write(extra.metrics!);
    if (paths.rejects !== undefined) await (await outputs.open(paths.rejects, '--rejects')).write(csv.rejectsCsv!);
    if (paths.output !== undefined) await (await outputs.open(paths.output, '--output')).write(csv.accountsCsv);
    await outputs.finish();
    if (paths.output === undefined) await io.stdout(csv.accountsCsv);
    await outputs.publish();
  } catch (error) {
    await outputs.discard();
    throw error;
  }
}
