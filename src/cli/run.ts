/**
 * The CLI: `run(argv, io)` parses with yargs, runs one command and returns the exit code; it never
 * calls process.exit, so tests can call it in-process and streams always flush. Commands load their
 * heavy modules (piscina, better-sqlite3, prom-client, papaparse) in their handlers, so `--help`,
 * `--version` and argument mistakes answer without loading them.
 *
 * Errors end as one line on stderr: `payments: message` on a terminal, one JSON object off it (like
 * every other stderr line there). A stack trace only with --log-level debug (or trace).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Argv, CommandModule } from 'yargs';
import { RunError, describeError, usageError } from '../errors.js';
import { withoutEmptyHost } from '../journal/postgres/url.js';
import { jsonLine } from '../ops/log-format.js';
import { startTracing, stopTracing } from '../ops/tracing.js';
import { printable } from '../text.js';
import { generateCommand, generateOptionNames } from './commands/generate.js';
import { processCommand, processOptionNames } from './commands/process.js';
import { helpWrapColumns } from './help-text.js';
import { processIo, stdinArg, type CliIo } from './io.js';
import {
  closest,
  environmentFor,
  envPrefix,
  envVariable,
  normaliseBooleanFlags,
  refuseRepeatedOptions,
  wantsStacks,
  withCommonOptions,
} from './options.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

const commandNames = [
  ...['generate', 'replay', 'inspect', 'convert', 'reseal', 'node', 'submit', 'result', 'completion'],
  ...['audit', 'migrate', 'roles', 'shards'],
];
const commonOptionNames = ['quiet', 'log-level', 'progress', 'no-progress', 'color', 'no-color', 'help', 'version'];
const journalOptionNames = ['journal', 'as-of-line', 'client', 'journal-key-file', 'new-key-file'];
const booleanOptionNames = ['quiet', 'progress', 'color', 'detach', 'delete-stream', 'json', 'print'];

const completionDescription = 'Print a bash/zsh completion script (add `source <(payments completion)` to ~/.bashrc)';
const natsOptionNames = ['nats', 'nats-creds', 'nats-ca', 'nats-cert', 'nats-key', 'nats-password-file'];

/**
 * The options of each command besides the common ones, for the PAYMENTS_* variables it may read (a
 * test compares them with each command's --help). The commands whose modules load lazily are
 * listed here, so that reading the environment does not load them.
 */
const commandOptionNames: Readonly<Record<string, readonly string[]>> = {
  generate: generateOptionNames,
  replay: ['journal', 'as-of-line', 'journal-key-file'],
  inspect: ['journal', 'client', 'journal-key-file'],
  reseal: ['journal', 'journal-key-file', 'new-key-file'],
  convert: ['journal'],
  completion: [],
  // The token file may be named in the environment (PAYMENTS_HTTP_TOKEN_FILE): never on the command line only.
  node: [
    ...natsOptionNames,
    ...[
      'journal',
      'journal-key-file',
      'http',
      'http-bind',
      'http-token-file',
      'expire-seconds',
      'lease-ms',
      'threads',
      'node-id',
    ],
  ],
  submit: [
    ...natsOptionNames,
    ...['journal', 'journal-key-file', 'run', 'shards', 'output', 'rejects', 'report', 'metrics', 'delimiter'],
    ...['max-lag', 'delete-stream', 'deadline', 'detach'],
  ],
  result: ['journal', 'journal-key-file', 'run', 'output', 'rejects', 'input'],
  shards: ['journal', 'run', 'retry'],
  audit: ['journal', 'audit-log', 'since', 'action', 'json'],
  migrate: ['journal'],
  roles: ['migrator', 'node', 'auditor', 'print'],
};

/** The options a command takes (the main command's when `first` names none), for the PAYMENTS_* variables it may read. */
export function optionsOfCommand(first: string | undefined): string[] {
  const common = commonOptionNames.filter((o) => !o.startsWith('no-') && o !== 'help' && o !== 'version');
  const own = first !== undefined && Object.hasOwn(commandOptionNames, first) ? commandOptionNames[first]! : undefined;
  return [...common, ...(own ?? processOptionNames)];
}

export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let environment: ReturnType<typeof environmentFor> | undefined;
  try {
    // The one answer that needs no parser: skip loading yargs for it.
    if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
      await io.stdout(`${version}\n`);
      return 0;
    }
    const command = commandWord(argv);
    checkCommandTypo(command);
    // yargs' .env() turns every PAYMENTS_* variable into an option, and strict mode then refuses the
    // unknown ones: an unrelated PAYMENTS_FOO must not break a run. Put back when the run ends.
    environment = environmentFor(optionsOfCommand(command), booleanOptionNames);
    refuseUndecodable(argv, process.env); // the command's own PAYMENTS_* only, from here on
    if (command === 'completion') return await completionOnly(argv, io);
    // What a shell's completion asks is left as typed: a half-written --quiet= is not a mistake.
    if (!argv.includes('--get-yargs-completions'))
      argv = normaliseBooleanFlags(argv, optionsOfCommand(command), booleanOptionNames);
    // Before any logger exists (its lines then carry trace ids); a no-op unless OTEL_* ask for traces.
    await startTracing();
    const parser = await buildParser(argv, io);
    await parser.parseAsync();
    return 0;
  } catch (error) {
    // A command's arguments checked after an async middleware: yargs throws them past .fail().
    if (error instanceof Error && error.name === 'YError')
      return reportError(usageError(explainYargs(error.message), { usageHint: true }), argv, io);
    return reportError(error, argv, io);
  } finally {
    environment?.restore();
    await stopTracing().catch(() => undefined); // sends the spans still buffered
  }
}

/**
 * `payments completion` prints the script, and takes nothing else: yargs would print the script
 * and then run the default command with the extra word as its input.
 */
async function completionOnly(argv: readonly string[], io: CliIo): Promise<number> {
  // Common options (-q, --no-color, ...) may stand on either side of the word; nothing else may.
  const rest = argv.slice(argv.indexOf('completion') + 1).filter((arg) => !isCommonFlag(arg));
  if (rest.length > 0 && rest.every((arg) => arg === '--help' || arg === '-h')) {
    await io.stdout(`payments completion\n\n${completionDescription}\n`);
    return 0;
  }
  if (rest.length > 0) throw usageError(`completion takes no arguments: ${rest[0]}`, { usageHint: true });
  (await buildParser(argv, io)).showCompletionScript();
  return 0;
}

const isCommonFlag = (arg: string): boolean =>
  leadingFlags.includes(arg) || arg.startsWith('--log-level=') || commonBooleanWithValue.test(arg);

/** The yargs parser: common options, the commands, examples, and strict, one-line argument errors. */
async function buildParser(argv: readonly string[], io: CliIo): Promise<Argv> {
  // yargs would set aside what follows `--` and the run would read standard input instead: refused.
  if (argv.includes('--') && !argv.includes('--get-yargs-completions'))
    throw usageError('"--" is not accepted; to name a file that begins with "-", write ./ before it', {
      usageHint: true,
    });
  const { default: yargs } = await import('yargs');
  const instance = yargs(argv.map((arg) => (arg === '-' ? stdinArg : arg)));
  // Numbers are declared as strings (to echo a bad one as typed): "[string]" beside them would mislead.
  // (yargs 18 has usageConfiguration; @types/yargs 17 does not know it yet.)
  (instance as unknown as { usageConfiguration(config: Record<string, boolean>): unknown }).usageConfiguration({
    'hide-types': true,
  });
  const parser = withCommonOptions(instance)
    .scriptName('payments')
    .usage('$0 [input] [options]\n\nApply a transactions CSV (a file, or standard input) and print the accounts.');
  return (
    withExamples(withCommands(parser, io, argv))
      .env(envPrefix)
      .epilogue(
        `Every option can also be set in the environment as ${envPrefix}_<OPTION>, e.g. ${envVariable('workers')}=4.`,
      )
      .strict()
      // (Options declared as arrays, such as `shards --retry`, are repeatable by design.)
      .middleware((args) => refuseRepeatedOptions(args, declaredOptions(instance)), true)
      // libpq's `postgres://user@/db?host=/socket/dir`, which a URL parser refuses, as an equivalent it reads.
      .middleware((args) => {
        if (typeof args.journal === 'string') args.journal = withoutEmptyHost(args.journal);
      }, true)
      .version(version)
      .help()
      .alias('h', 'help')
      .alias('V', 'version')
      .wrap(Math.min(helpWrapColumns, process.stdout.columns ?? helpWrapColumns))
      .exitProcess(false)
      .fail((message, error) => {
        // yargs' own argument errors (YError) are usage errors; anything else a handler threw passes through.
        if (error !== undefined && error !== null && error.name !== 'YError') throw error;
        throw usageError(explainYargs(message ?? error?.message ?? 'invalid arguments'), { usageHint: true });
      })
  );
}

/** The command's declared options, and those of them declared as arrays (getOptions: yargs has it, @types/yargs 17 does not). */
function declaredOptions(parser: Argv): { arrays: readonly string[]; keys: readonly string[] } {
  const options = (
    parser as unknown as { getOptions(): { array: string[]; key: Record<string, unknown> } }
  ).getOptions();
  return { arrays: options.array, keys: Object.keys(options.key) };
}

function withCommands(parser: Argv, io: CliIo, argv: readonly string[]): Argv {
  const lazy = (name: string, describe: string, load: () => Promise<CommandModule<any, any>>) =>
    parser.command(lazyCommand(name, describe, load));
  parser.command(processCommand(io, argv)).command(generateCommand(io, argv));
  lazy('replay', 'Rebuild and print the accounts from a journal alone (no input file)', async () =>
    (await import('./commands/replay.js')).replayCommand(io, argv),
  );
  lazy('inspect', "List a client's journal records (or every record) in order, as CSV", async () =>
    (await import('./commands/inspect.js')).inspectCommand(io, argv),
  );
  lazy('convert', 'Rewrite a PostgreSQL journal of an older version (one row a record) as batches', async () =>
    (await import('./commands/convert.js')).convertCommand(io, argv),
  );
  lazy('reseal', 'Seal a journal again under a new key (or seal one that is not sealed), atomically', async () =>
    (await import('./commands/reseal.js')).resealCommand(io, argv),
  );
  lazy('node', 'Join the cluster: own shards of submitted runs and apply their batches', async () =>
    (await import('./commands/node.js')).nodeCommand(io, argv),
  );
  lazy('submit <input>', 'Send a transactions CSV to the cluster and print the accounts', async () =>
    (await import('./commands/submit.js')).submitCommand(io, argv),
  );
  lazy('result', 'Print the accounts (and rejected rows) of a run submitted to the cluster', async () =>
    (await import('./commands/result.js')).resultCommand(io, argv),
  );
  lazy('audit', 'Print the audit log of operator actions (submit, result, retries, nodes, …)', async () =>
    (await import('./commands/audit.js')).auditCommand(io),
  );
  lazy('migrate', 'Create or update the PostgreSQL schemas (run as the role that owns them)', async () =>
    (await import('./commands/migrate.js')).migrateCommand(io, argv),
  );
  lazy('roles', 'Print the SQL granting the migrator, node and auditor roles their rights', async () =>
    (await import('./commands/roles.js')).rolesCommand(io),
  );
  lazy('shards', "Show a cluster run's shards, their state and dead letters; retry quarantined shards", async () =>
    (await import('./commands/shards.js')).shardsCommand(io, argv),
  );
  return parser.completion('completion', completionDescription);
}

function withExamples(parser: Argv): Argv {
  return parser
    .example('$0 transactions.csv > accounts.csv', 'process a file')
    .example('cat tx.csv | $0 --rejects rejected.csv', 'read standard input, keep the rejected rows')
    .example('$0 tx.csv -o accounts.csv --report run.json', 'accounts and the run report to files')
    .example('$0 generate --rows 100 --clients 5 test.csv', 'write a synthetic dataset')
    .example('$0 big.csv --journal big.journal', 'durable run: run it again after a crash to resume')
    .example('$0 replay --journal big.journal --as-of-line 1000', 'accounts as they stood after line 1000')
    .example("$0 big.csv --journal 'postgres://db/payments?journal=run-42'", 'the same, journal in PostgreSQL');
}

/**
 * A command whose module (and its journal, SQLite and logger imports) loads only when it is chosen:
 * yargs calls a builder only for the command being run or asked for help.
 */
function lazyCommand(
  name: string,
  describe: string,
  load: () => Promise<CommandModule<any, any>>,
): CommandModule<any, any> {
  return {
    command: name,
    describe,
    builder: async (y: Argv) => {
      const builder = (await load()).builder;
      return typeof builder === 'function' ? builder(y) : y.options(builder ?? {});
    },
    handler: async (argv) => (await load()).handler(argv),
  };
}

function reportError(error: unknown, argv: readonly string[], io: CliIo): number {
  const runError = error instanceof RunError ? error : undefined;
  const exitCode = runError?.exitCode ?? 1;
  const stack = wantsStacks(logLevelOf(argv)) ? (error as Error)?.stack : undefined;
  // A reader that closed the pipe (`| head`) wanted no more: nothing to say.
  if (runError?.kind === 'broken-pipe' && stack === undefined) return exitCode;
  const message = (runError ? runError.message : `failed: ${describeError(error)}`).replaceAll(stdinArg, '-');
  const hint = runError?.usageHint
    ? 'Run "payments --help" for usage.'
    : runError
      ? undefined
      : 'Run again with --log-level debug for details.';
  if (io.stderrIsTty) {
    // Messages echo paths and values the user typed: never let them split the line or reach the
    // terminal as control sequences (JSON lines escape them as JSON; see jsonLine).
    io.stderr(`payments: ${printable(message)}\n`);
    if (stack !== undefined) io.stderr(`${printableStack(error as Error, stack)}\n`);
    else if (hint !== undefined) io.stderr(`${hint}\n`);
  } else {
    const fields = { exitCode, kind: runError?.kind ?? 'failure', ...(hint && !stack ? { hint } : {}), stack };
    io.stderr(jsonLine('error', message, fields));
  }
  return exitCode;
}

/** A stack trace whose first line (`Name: message`, the message possibly spanning lines) is made printable. */
function printableStack(error: Error, stack: string): string {
  const head = `${error.name}: ${error.message}`;
  return stack.startsWith(head) ? printable(head) + stack.slice(head.length) : stack;
}

function logLevelOf(argv: readonly string[]): string | undefined {
  return (
    argv.find((_, i) => argv[i - 1] === '--log-level') ??
    argv.find((a) => a.startsWith('--log-level='))?.split('=')[1] ??
    process.env[envVariable('log-level')]
  );
}

/** A common on/off option spelled with a value (`--quiet=1`, `--no-color=0`, `-q=1`): not the command. */
const commonBooleanWithValue = /^(--(no-)?(quiet|progress|color)|-q)=/;
/** The common options that may come before a command's name (`payments -q roles`); --log-level takes a value. */
const leadingFlags = [
  '-q',
  ...commonOptionNames.filter((o) => !['log-level', 'help', 'version'].includes(o)).map((o) => `--${o}`),
];

/** The first argument after any common options: the command's name, or the main command's first argument. */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--log-level') i++;
    else if (!leadingFlags.includes(arg) && !arg.startsWith('--log-level=') && !commonBooleanWithValue.test(arg))
      return arg;
  }
  return undefined;
}

/** `payments genrate …` would otherwise be read as an input file named "genrate". */
function checkCommandTypo(first: string | undefined): void {
  if (first === undefined || first.startsWith('-') || commandNames.includes(first)) return;
  if (/[./\\]/.test(first) || existsSync(first)) return; // a path
  const near = closest(first, commandNames);
  if (near !== undefined && first !== near) {
    throw usageError(
      `unknown command "${first}"; did you mean "${near}"? (to read a file of that name, write ./${first})`,
      {
        usageHint: true,
      },
    );
  }
}

/**
 * Node reads arguments and the environment as UTF-8 and puts U+FFFD for bytes that are not: a path
 * of such bytes would silently name another file (`\xfe.csv` becomes `\uFFFD.csv`, which may
 * exist). Refused, whatever names it, rather than read or written under another name.
 */
function refuseUndecodable(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const at = argv.findIndex((arg) => arg.includes('\uFFFD'));
  const variable = Object.keys(env).find((key) => key.startsWith('PAYMENTS_') && env[key]!.includes('\uFFFD'));
  if (at < 0 && variable === undefined) return;
  // Named by where it is, never shown: it may be a URL with a password.
  const arg = argv[at] ?? '';
  const before = argv[at - 1] ?? '';
  // A flag before it (-q, --no-progress, --) takes no value: then it is an argument of its own.
  const flag = before === '--' || before === '-q' || booleanOptionNames.includes(before.replace(/^--(no-)?/, ''));
  const option = /^(--?[\w-]+)=/.exec(arg)?.[1] ?? (before.startsWith('-') && !flag ? before : undefined);
  const what = at < 0 ? variable! : option !== undefined ? `the value of ${option}` : `argument ${at + 1}`;
  throw usageError(
    `${what} holds bytes that are not UTF-8 (shown as \uFFFD): its name cannot be told apart from another; rename the file (or use another value) with UTF-8 characters only`,
  );
}

/** yargs' own messages, made one line and pointed at what to type. */
function explainYargs(message: string): string {
  const text = message.replaceAll(stdinArg, '-');
  const unknown = /^Unknown arguments?: (.+)$/s.exec(text);
  if (unknown) {
    const names = unknown[1]!.split(', ').filter((n, _, all) => !/[A-Z]/.test(n) || !all.includes(kebab(n)));
    const known = [...commonOptionNames, ...processOptionNames, ...generateOptionNames, ...journalOptionNames];
    const parts = names.map((name) => {
      if (known.includes(name)) return `--${name} is not an option of this command (see its --help)`;
      if (name.length > 1 && /^[a-z][a-z-]*$/.test(name)) {
        const near = closest(name, known);
        return `unknown option --${name}${near ? `; did you mean --${near}?` : ''}`;
      }
      if (name.length === 1) return `unknown option -${name}`;
      return `unexpected argument "${name}"`;
    });
    return parts.join('; ');
  }
  const missing = /^Not enough arguments following: (.+)$/.exec(text);
  // As typed: a short option (-o) by its letter, not as "--o".
  if (missing) return `${missing[1]!.length === 1 ? '-' : '--'}${kebab(missing[1]!)} needs a value`;
  const tooMany = /^Too many non-option arguments: got (\d+), maximum of (\d+)$/.exec(text);
  if (tooMany) return `too many arguments: expected at most ${tooMany[2]} file name(s), got ${tooMany[1]}`;
  return text.replace(/\s*\n\s*/g, ' ');
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
