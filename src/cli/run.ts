/**
 * The CLI: `run(argv)` parses with yargs, runs one command and returns the exit code; it never
 * calls process.exit, so tests can call it and streams always flush.
 */
import { createRequire } from 'node:module';
import yargs from 'yargs';
import { RunError, describeError, usageError } from '../errors.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { replayCommand } from './commands/replay.js';
import { processCommand } from './commands/process.js';
import { processIo, stdinArg, type CliIo } from './io.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const parser = yargs(argv.map((arg) => (arg === '-' ? stdinArg : arg)))
    .scriptName('payments')
    .usage('$0 <input|-> [--workers N] [--rejects FILE]')
    .command(processCommand(io))
    .command(generateCommand(io))
    .command(replayCommand(io))
    .command(inspectCommand(io))
    .example('$0 transactions.csv > accounts.csv', 'process a file')
    .example('cat tx.csv | $0 - --rejects rejected.csv', 'read stdin, keep the rejected rows')
    .example('$0 generate -n 100 -c 5 test.csv', 'write a synthetic dataset')
    .example('$0 big.csv --journal big.journal', 'durable run: run it again after a crash to resume')
    .example('$0 replay --journal big.journal --as-of-line 1000', 'accounts as they stood after line 1000')
    .env('PAYMENTS') // every option also from the environment: PAYMENTS_WORKERS=4, PAYMENTS_LOG_LEVEL=debug
    .epilogue('Every option can also be set in the environment as PAYMENTS_<OPTION>, e.g. PAYMENTS_WORKERS=4.')
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? usageError(message, { usageHint: true });
    });
  try {
    await parser.parseAsync();
    return 0;
  } catch (error) {
    if (error instanceof RunError) {
      io.stderr(`payments: ${error.message}\n`);
      if (wantsStacks(argv)) io.stderr(`${error.stack ?? ''}\n`);
      if (error.usageHint) io.stderr('Run "payments --help" for usage.\n');
      return error.exitCode;
    }
    io.stderr(`payments: failed: ${describeError(error)}\n`);
    if (wantsStacks(argv)) io.stderr(`${(error as Error).stack ?? ''}\n`);
    else io.stderr('Run again with --log-level debug for details.\n');
    return 1;
  }
}

function wantsStacks(argv: readonly string[]): boolean {
  const level =
    argv.find((_, i) => argv[i - 1] === '--log-level') ??
    argv.find((a) => a.startsWith('--log-level='))?.split('=')[1] ??
    process.env.PAYMENTS_LOG_LEVEL;
  return level === 'debug' || level === 'trace';
}
