/** `payments generate -n N -c C OUT`: a synthetic dataset (see generate/generator.ts for the mix). */
import type { Argv, CommandModule } from 'yargs';
import { clientsMax } from '../../constants.js';
import { usageError } from '../../errors.js';
import { defaultMix, type TrafficMix } from '../../generate/generator.js';
import { writeDataset } from '../../generate/write-dataset.js';
import { stdinArg, type CliIo } from '../io.js';

interface GenerateArgs extends TrafficMix {
  n: number;
  c: number;
  seed: number;
  out: string;
  progress: boolean;
}

/** The traffic options: weights (any number ≥ 0) and shares (from 0 to 1). */
const mixOptions: { name: keyof TrafficMix; describe: string; share: boolean }[] = [
  { name: 'deposits', describe: 'weight of deposits', share: false },
  { name: 'withdrawals', describe: 'weight of withdrawals', share: false },
  { name: 'disputes', describe: 'weight of disputes', share: false },
  { name: 'resolves', describe: 'weight of resolves', share: false },
  { name: 'chargebacks', describe: 'weight of chargebacks', share: false },
  {
    name: 'strayRefs',
    describe: 'share of dispute/resolve/chargeback rows naming an unknown or foreign tx',
    share: true,
  },
  { name: 'overdrafts', describe: 'share of withdrawals above the balance', share: true },
  { name: 'badRate', describe: 'share of malformed rows (every kind SPEC names) and reused tx ids', share: true },
];

export function generateCommand(io: CliIo): CommandModule<object, GenerateArgs> {
  return {
    command: 'generate <out>',
    describe: 'Write a synthetic transactions CSV (OUT, or - for stdout)',
    builder: (y: Argv) => {
      let b = y
        .positional('out', { type: 'string', demandOption: true, describe: 'output file, or - for stdout' })
        .option('n', { type: 'number', demandOption: true, describe: 'number of transactions' })
        .option('c', { type: 'number', demandOption: true, describe: `number of clients, 1 to ${clientsMax}` })
        .option('seed', { type: 'number', default: 1, describe: 'random seed: the same seed gives the same bytes' })
        .option('progress', {
          type: 'boolean',
          default: true,
          describe: 'progress bar on stderr when it is a terminal',
        });
      for (const { name, describe } of mixOptions) {
        b = b.option(name, { type: 'number', default: defaultMix[name], describe });
      }
      return b as unknown as Argv<GenerateArgs>;
    },
    handler: async (argv) => {
      if (!Number.isSafeInteger(argv.n) || argv.n < 0)
        throw usageError(`-n must be a whole number ≥ 0 (got ${argv.n})`, { usageHint: true });
      if (!Number.isInteger(argv.c) || argv.c < 1 || argv.c > clientsMax) {
        throw usageError(`-c must be a whole number from 1 to ${clientsMax} (got ${argv.c})`, { usageHint: true });
      }
      if (!Number.isInteger(argv.seed))
        throw usageError(`--seed must be a whole number (got ${argv.seed})`, { usageHint: true });
      const mix = { ...defaultMix };
      for (const { name, share } of mixOptions) {
        const value = argv[name];
        if (typeof value !== 'number' || !(value >= 0) || (share && value > 1)) {
          throw usageError(
            `--${kebab(name)} must be a number ${share ? 'from 0 to 1' : '≥ 0'} (got ${String(value)})`,
            { usageHint: true },
          );
        }
        mix[name] = value;
      }
      if (mix.deposits <= 0) throw usageError('--deposits must be above 0: every other kind of row refers to deposits');
      const out = argv.out === stdinArg ? '-' : argv.out;
      const started = performance.now();
      const { bytes } = await writeDataset(
        { rows: argv.n, clients: argv.c, seed: argv.seed, mix },
        out,
        argv.progress && io.stderrIsTty,
      );
      const seconds = (performance.now() - started) / 1000;
      if (out !== '-') {
        io.stderr(
          `generated ${argv.n} rows (${(bytes / 1e6).toFixed(1)} MB) for ${argv.c} clients in ${seconds.toFixed(2)} s → ${out}\n`,
        );
      }
    },
  };
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
