/**
 * `payments shards --run NAME --journal postgres://… [--retry SHARD|all]`: a cluster run's shards,
 * their state and dead letters (CSV on standard output); --retry lifts a quarantine (the shard is
 * claimed again at once). Exit 2: no such run, or a shard named that is not quarantined.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import type { CliIo } from '../io.js';
import type { CommonArgs } from '../options.js';
import { checkPostgresJournal, journalOption } from './cluster-options.js';

interface ShardsArgs extends CommonArgs {
  journal: string;
  run: string;
  retry?: string[];
}

export function shardsCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, ShardsArgs> {
  return {
    command: 'shards',
    describe: "Show a cluster run's shards, their state and dead letters; retry quarantined shards",
    builder: (y: Argv) =>
      journalOption(y)
        .option('run', { type: 'string', requiresArg: true, demandOption: true, describe: 'name of the run' })
        .option('retry', {
          type: 'string',
          array: true,
          requiresArg: true,
          describe: 'lift the quarantine of this shard (a number, or all); repeatable',
        }) as unknown as Argv<ShardsArgs>,
    handler: async (argv) => {
      const journalUrl = checkPostgresJournal(argv.journal);
      const { checkRunName } = await import('../../cluster/names.js');
      const run = checkRunName(argv.run);
      const retry = retryOf(argv.retry);
      const { shardsReport } = await import('../../cluster/shards-report.js');
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      const sink = retry === undefined ? undefined : auditSinkFor(journalUrl, undefined); // a listing changes nothing
      const { text, lifted } = await audited(sink, 'shards-retry', rawArgv, () => shardsReport(journalUrl, run, retry));
      for (const shard of lifted) io.stderr(`shard ${shard} of run ${run}: quarantine lifted\n`);
      await io.stdout(text);
    },
  };
}

function retryOf(values: readonly string[] | undefined): number[] | 'all' | undefined {
  if (values === undefined) return undefined;
  if (values.includes('all')) return 'all';
  return values.map((v) => {
    if (!/^\d{1,6}$/.test(v)) throw usageError(`--retry ${v}: a shard number or all`, { usageHint: true });
    return Number(v);
  });
}
