/**
 * What every command shares: the common options (-q/--quiet, --log-level, --no-progress,
 * --no-color), and reading a value as typed so that a bad one is echoed exactly, with the
 * environment variable named when it came from there (`PAYMENTS_WORKERS=abc: --workers must be …`).
 */
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import { asciiLowerCase } from '../text.js';
import { colorWanted, logLevels, type LogConfig, type LogLevel } from '../ops/log-format.js';

export const envPrefix = 'PAYMENTS';

export interface CommonArgs {
  quiet: boolean;
  logLevel: string;
  progress: boolean;
  color: boolean;
}

/** The common options, declared once on the top level (yargs makes them global to every command). */
export function withCommonOptions<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      default: false,
      describe: 'warnings and errors only: no progress bar, no summary',
    })
    .option('log-level', {
      type: 'string',
      requiresArg: true,
      default: 'info',
      describe: `stderr log level: ${logLevels.join(', ')}; default info (debug also shows stack traces)`,
    })
    .option('progress', {
      type: 'boolean',
      default: true,
      describe: 'progress bar on stderr when it is a terminal (--no-progress: none)',
    })
    .option('color', {
      type: 'boolean',
      default: true,
      describe: 'colours on a terminal (--no-color or NO_COLOR=1: none)',
    }) as unknown as Argv<T & CommonArgs>;
}

/** Where an option's value came from, as the user would write it: `--workers abc` or `PAYMENTS_WORKERS=abc`. */
export function sourceOf(
  option: string,
  raw: unknown,
  argv: readonly string[],
  aliases: readonly string[] = [],
): string {
  const flags = [`--${option}`, ...aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))];
  // The last occurrence wins in yargs, so it is the one to echo.
  const used = [...argv].reverse().find((arg) => flags.some((f) => arg === f || arg.startsWith(`${f}=`)));
  const variable = envVariable(option);
  if (used === undefined && process.env[variable] !== undefined) return `${variable}=${process.env[variable]}`;
  const flag = used?.split('=')[0] ?? `--${option}`;
  return `${flag} ${String(raw)}`;
}

/** True when an option was not on the command line but its PAYMENTS_* variable is set (so the value is from there). */
export function cameFromEnvironment(option: string, argv: readonly string[], aliases: readonly string[] = []): boolean {
  const flags = [`--${option}`, ...aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))];
  const used = argv.some((arg) => flags.some((f) => arg === f || arg.startsWith(`${f}=`)));
  return !used && process.env[envVariable(option)] !== undefined;
}

/** The boolean options' spellings accepted from the environment. */
const envBooleans: Record<string, string> = { true: 'true', false: 'false', '1': 'true', '0': 'false' };

/**
 * The PAYMENTS_* variables yargs may see for one command: those naming an option of it, booleans
 * read as true/false/1/0 (anything else is exit 2 naming the variable). Variables naming no option
 * of the command (PAYMENTS_FOO, or another tool's setting) are left out rather than refused.
 * Returns what to put back in process.env afterwards.
 */
export function environmentFor(
  options: readonly string[],
  booleans: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { ignored: string[]; restore: () => void } {
  const saved: [string, string | undefined][] = [];
  const ignored: string[] = [];
  const prefix = `${envPrefix}_`;
  for (const key of Object.keys(env)) {
    if (!key.startsWith(prefix)) continue;
    const value = env[key]!;
    const option = options.find((o) => envVariable(o) === key);
    if (option === undefined) {
      ignored.push(key);
      saved.push([key, value]);
      delete env[key];
    } else if (booleans.includes(option)) {
      const spelled = asciiLowerCase(value.trim());
      // Own keys only: `constructor` or `__proto__` must not find Object.prototype's.
      const normal = Object.hasOwn(envBooleans, spelled) ? envBooleans[spelled] : undefined;
      if (normal === undefined) {
        for (const [k, v] of saved) env[k] = v;
        throw usageError(`${key}=${value}: --${option} must be true or false (or 1 / 0)`, { usageHint: true });
      }
      if (normal !== value) {
        saved.push([key, value]);
        env[key] = normal;
      }
    }
  }
  return {
    ignored,
    restore: () => {
      for (const [k, v] of saved) env[k] = v;
    },
  };
}

/**
 * The command line's on/off options as the environment's: `--quiet=1` and `--color=FALSE` mean what
 * they say (yargs would take them as neither), anything else is exit 2 naming the option; `--no-X`
 * of an option that takes a value (`--no-rejects`) is exit 2 saying so, not a path named "false".
 * Returns the arguments with such booleans spelled true/false.
 */
export function normaliseBooleanFlags(
  argv: readonly string[],
  options: readonly string[],
  booleans: readonly string[],
): string[] {
  return argv.map((arg) => {
    // -q is the one short on/off option: -q=1 is --quiet=1.
    if (arg.startsWith('-q=') && options.includes('quiet')) arg = `--quiet${arg.slice(2)}`;
    const match = /^--(no-)?([a-z][a-z-]*)(=(.*))?$/s.exec(arg);
    if (match === null || !options.includes(match[2]!)) return arg;
    const [, negated, option, , value] = match;
    if (!booleans.includes(option!)) {
      if (negated === undefined) return arg;
      throw usageError(`${arg}: --${option} takes a value; it has no --no-${option} form`, { usageHint: true });
    }
    if (value === undefined) return arg;
    const spelled = asciiLowerCase(value.trim());
    const normal = Object.hasOwn(envBooleans, spelled) ? envBooleans[spelled] : undefined;
    if (normal === undefined)
      throw usageError(`${arg}: --${option} must be true or false (or 1 / 0)`, { usageHint: true });
    // --no-X=1 is --X=false: yargs knows --no-X alone.
    return `--${option}=${negated === undefined ? normal : normal === 'true' ? 'false' : 'true'}`;
  });
}

export const envVariable = (option: string): string => `${envPrefix}_${option.replace(/-/g, '_').toUpperCase()}`;

export interface NumberRule {
  readonly option: string;
  readonly aliases?: readonly string[];
  readonly min: number;
  readonly max?: number;
  /** Whole numbers only. */
  readonly integer: boolean;
  readonly example: string;
}

/** Reads a numeric option typed as a string: exact digits only, so `1e3`, `0x10` and `` are refused. */
export function readNumber(raw: unknown, rule: NumberRule, argv: readonly string[]): number {
  if (typeof raw === 'number') return raw; // a default
  const source = () => sourceOf(rule.option, raw, argv, rule.aliases);
  if (Array.isArray(raw)) throw usageError(`--${rule.option} is given more than once`, { usageHint: true });
  const text = String(raw).trim();
  const pattern = rule.integer ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)$/;
  const value = Number(text);
  const inRange = value >= rule.min && (rule.max === undefined || value <= rule.max);
  if (!pattern.test(text) || !Number.isSafeInteger(Math.trunc(value)) || !inRange) {
    const kind = rule.integer ? 'a whole number' : 'a number';
    const range = rule.max === undefined ? `≥ ${rule.min}` : `from ${rule.min} to ${rule.max}`;
    throw usageError(`${source()}: --${rule.option} must be ${kind} ${range}; for example ${rule.example}`, {
      usageHint: true,
    });
  }
  return value;
}

function readLogLevel(raw: unknown, argv: readonly string[]): LogLevel {
  if (typeof raw === 'string' && (logLevels as readonly string[]).includes(raw)) return raw as LogLevel;
  throw usageError(`${sourceOf('log-level', raw, argv)}: --log-level must be one of ${logLevels.join(', ')}`, {
    usageHint: true,
  });
}

/** The log configuration the common options ask for; --quiet lowers info and below to warnings. */
export function logConfigOf(args: CommonArgs, argv: readonly string[], stderrIsTty: boolean): LogConfig {
  const level = readLogLevel(args.logLevel, argv);
  const quietLevel: LogLevel = args.quiet && ['info', 'debug', 'trace'].includes(level) ? 'warn' : level;
  return { level: quietLevel, pretty: stderrIsTty, color: stderrIsTty && colorWanted(args.color) };
}

/** The levels at which a stack trace is worth printing. */
export const wantsStacks = (level: string | undefined): boolean => level === 'debug' || level === 'trace';

/** Edit distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(word, candidate);
    if (d < bestDistance || (best !== undefined && d === bestDistance && candidate.startsWith(word))) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Options that may be given more than once besides those declared as arrays: several key files, so that a journal can be read during a rotation. */
const repeatableOptions: ReadonlySet<string> = new Set(['journal-key-file', 'journalKeyFile']);

/**
 * Refuses an option given twice (`--output a.csv --output b.csv`): yargs would pass both as an
 * array, and which one a command used would be a guess. Named by its long spelling when it has one.
 */
export function refuseRepeatedOptions(
  args: Readonly<Record<string, unknown>>,
  declared?: { readonly arrays: readonly string[]; readonly keys: readonly string[] },
): void {
  // An option the command does not have is left to the parser's answer (unknown, or another command's).
  const repeated = Object.keys(args).filter(
    (key) =>
      key !== '_' &&
      Array.isArray(args[key]) &&
      !repeatableOptions.has(key) &&
      (declared === undefined || (declared.keys.includes(key) && !declared.arrays.includes(key))),
  );
  if (repeated.length === 0) return;
  const name = repeated.find((key) => key.length > 1 && !/[A-Z]/.test(key)) ?? repeated[0]!;
  throw usageError(`${name.length === 1 ? '-' : '--'}${name} is given more than once`, { usageHint: true });
}
