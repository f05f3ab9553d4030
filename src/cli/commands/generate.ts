/** `payments generate --rows N --clients C OUT`: a synthetic dataset (see generate/generator.ts for the mix). */
import type { Argv, CommandModule } from 'yargs';
import { clientsMax } from '../../constants.js';
import { usageError } from '../../errors.js';
import { defaultMix, type TrafficMix } from '../../generate/generator.js';
import { pathArg, type CliIo } from '../io.js';
import { readNumber, type CommonArgs } from '../options.js';

interface GenerateArgs extends CommonArgs {
  rows: string;
  clients: string;
  seed: string | number;
  out: string;
  [option: string]: unknown;
}

/** The traffic options: weights (any number ≥ 0) and shares (from 0 to 1). */
const mixOptions: { name: keyof TrafficMix; option: string; describe: string; share: boolean }[] = [
  { name: 'deposits', option: 'deposits', describe: 'weight of deposits', share: false },
  { name: 'withdrawals', option: 'withdrawals', describe: 'weight of withdrawals', share: false },
  { name: 'disputes', option: 'disputes', describe: 'weight of disputes', share: false },
  { name: 'resolves', option: 'resolves', describe: 'weight of resolves', share: false },
  { name: 'chargebacks', option: 'chargebacks', describe: 'weight of chargebacks', share: false },
  {
    name: 'strayRefs',
    option: 'stray-refs',
    describe: 'share of dispute/resolve/chargeback rows naming an unknown or foreign tx',
    share: true,
  },
  { name: 'overdrafts', option: 'overdrafts', describe: 'share of withdrawals above the balance', share: true },
  {
    name: 'badRate',
    option: 'bad-rate',
    describe: 'share of malformed rows (every kind SPEC names) and reused tx ids',
    share: true,
  },
];

/** For "did you mean" suggestions. */
export const generateOptionNames = ['rows', 'clients', 'seed', ...mixOptions.map((m) => m.option)];

export function generateCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, GenerateArgs> {
  return {
    command: 'generate <out>',
    describe: 'Write a synthetic transactions CSV (OUT, or - for standard output)',
    builder: (y: Argv) => {
      let b = y
        .positional('out', { type: 'string', demandOption: true, describe: 'output file, or - for standard output' })
        .option('rows', {
          alias: 'n',
          type: 'string',
          requiresArg: true,
          demandOption: true,
          describe: 'number of transactions (required)',
        })
        .option('clients', {
          alias: 'c',
          type: 'string',
          requiresArg: true,
          demandOption: true,
          describe: `number of clients, 1 to ${clientsMax} (required)`,
        })
        .option('seed', {
          type: 'string',
          requiresArg: true,
          default: 1,
          describe: 'random seed: the same seed gives the same bytes (default 1)',
        });
      for (const { name, option, describe } of mixOptions) {
        b = b.option(option, {
          type: 'string',
          requiresArg: true,
          default: defaultMix[name],
          describe: `${describe} (default ${defaultMix[name]})`,
        });
      }
      return b as unknown as Argv<GenerateArgs>;
    },
    handler: async (argv) => {
      const whole = (option: string, aliases: string[], min: number, max: number | undefined, example: string) =>
        readNumber(argv[kebabToCamel(option)], { option, aliases, min, max, integer: true, example }, rawArgv);
      const rows = whole('rows', ['n'], 0, undefined, '--rows 1000');
      const clients = whole('clients', ['c'], 1, clientsMax, '--clients 100');
      const seed = whole('seed', [], Number.MIN_SAFE_INTEGER, undefined, '--seed 7');
      const mix = { ...defaultMix };
      for (const { name, option, share } of mixOptions) {
        const example = `--${option} ${share ? '0.05' : '0.5'}`;
        mix[name] = readNumber(
          argv[kebabToCamel(option)],
          { option, min: 0, max: share ? 1 : undefined, integer: false, example },
          rawArgv,
        );
      }
      if (mix.deposits <= 0) throw usageError('--deposits must be above 0: every other kind of row refers to deposits');
      const { runGenerate } = await import('../generate-run.js');
      await runGenerate(
        { rows, clients, seed, mix },
        pathArg(argv.out)!,
        { quiet: argv.quiet, progress: argv.progress && !argv.quiet && io.stderrIsTty },
        io,
      );
    },
  };
}

const kebabToCamel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
