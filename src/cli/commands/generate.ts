/** `payments generate --rows N --clients C OUT`: a synthetic dataset (see generate/generator.ts for the mix). */
import type { Argv, CommandModule } from 'yargs';
import { clientsMax, generateRowsMax } from '../../constants.js';
import { usageError } from '../../errors.js';
import { defaultMix, type TrafficMix } from '../../generate/generator.js';
import { pathArg, type CliIo } from '../io.js';
import { readNumber, sourceOf, type CommonArgs } from '../options.js';

interface GenerateArgs extends CommonArgs {
  rows: string;
  clients: string;
  seed: string | number;
  out: string;
  [option: string]: unknown;
}

/**
 * The traffic options, every one a fraction from 0 to 1 (0.05 is 5 %). The five kinds' shares are
 * weighed against each other, so they need not add up to 1; a bound of 1 still matters, because
 * `--disputes 3` meant as 3 % would otherwise silently make three rows in four disputes.
 */
const mixOptions: { name: keyof TrafficMix; option: string; describe: string }[] = [
  { name: 'deposits', option: 'deposits', describe: 'share of deposits, above 0' },
  { name: 'withdrawals', option: 'withdrawals', describe: 'share of withdrawals' },
  { name: 'disputes', option: 'disputes', describe: 'share of disputes' },
  { name: 'resolves', option: 'resolves', describe: 'share of resolves' },
  { name: 'chargebacks', option: 'chargebacks', describe: 'share of chargebacks' },
  {
    name: 'strayRefs',
    option: 'stray-refs',
    describe: 'share of dispute/resolve/chargeback rows naming an unknown or foreign tx',
  },
  { name: 'overdrafts', option: 'overdrafts', describe: 'share of withdrawals above the balance' },
  {
    name: 'badRate',
    option: 'bad-rate',
    describe: 'share of malformed rows (every kind SPEC names) and reused tx ids',
  },
];

/** pure-rand reads a seed as a 32-bit integer (seeds 1 and 2^32 + 1 gave the same bytes). */
const seedMax = 0xffffffff;

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
          describe: `number of transactions, 0 to ${generateRowsMax} (required)`,
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
          describe: `random seed, 0 to ${seedMax}: the same seed gives the same bytes (default 1)`,
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
      const rows = whole('rows', ['n'], 0, generateRowsMax, '--rows 1000');
      const clients = whole('clients', ['c'], 1, clientsMax, '--clients 100');
      const seed = whole('seed', [], 0, seedMax, '--seed 7');
      const mix = { ...defaultMix };
      for (const { name, option } of mixOptions) {
        const rule = { option, min: 0, max: 1, integer: false, example: `--${option} 0.05` };
        mix[name] = readNumber(argv[kebabToCamel(option)], rule, rawArgv);
      }
      if (mix.deposits <= 0)
        throw usageError(
          `${sourceOf('deposits', argv.deposits, rawArgv)}: --deposits must be above 0, since every other kind of row refers to deposits; for example --deposits 0.6`,
          { usageHint: true },
        );
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
