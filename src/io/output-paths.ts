/**
 * Every output path is checked before the input is read (SPEC second edition, "Outputs"): a run that
 * would overwrite its own input, write two outputs to one file, or fail at the end because a
 * directory is missing stops at once with exit 2 and one line naming the option.
 */
import { constants, fstatSync, type Stats } from 'node:fs';
import { access, lstat, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { errorCode, inputError, RunError } from '../errors.js';

/** Links followed before a path is called a loop (Linux's own limit is 40). */
const linksMax = 40;

export interface OutputPath {
  /** How the user named it, e.g. `--rejects`. */
  readonly option: string;
  readonly path: string;
  /** The environment variable the path came from (`PAYMENTS_REJECTS`), to name it in messages. */
  readonly variable?: string;
}

export interface CheckOptions {
  /** The run writes standard output: it must not be the input or another output. */
  readonly stdout?: boolean;
}

/** What an output path turned out to be; `special` (a device or FIFO) is written in place. */
export interface CheckedOutput extends OutputPath {
  readonly special: boolean;
}

interface Identity {
  readonly key: string;
  readonly option: string;
}

/**
 * Checks `outputs` against the input (`'-'` for stdin) and each other; `journal`, when given, must be
 * a directory or not exist yet. Returns the outputs with whether each is a device or FIFO.
 */
export async function checkOutputPaths(
  input: string | undefined,
  outputs: readonly OutputPath[],
  journal?: string | OutputPath,
  options: CheckOptions = {},
): Promise<CheckedOutput[]> {
  const seen: Identity[] = [];
  if (input !== undefined) {
    const key = input === '-' ? fdIdentity(0) : await identityOf(input);
    if (key !== undefined) seen.push({ key, option: input === '-' ? 'standard input' : 'the input' });
  }
  if (options.stdout) {
    // `payments in.csv >> in.csv`, `--rejects x.csv > x.csv`: a regular file as standard output is one more output.
    const key = fdIdentity(1);
    const clash = key === undefined ? undefined : seen.find((s) => s.key === key);
    if (clash) throw inputError(`standard output is the same file as ${clash.option}; redirect it to another file`);
    if (key !== undefined) seen.push({ key, option: 'standard output' });
  }
  if (journal !== undefined) {
    const named = typeof journal === 'string' ? { option: '--journal', path: journal } : journal;
    await namingVariable(named, () => checkJournal(named.path));
  }
  const checked: CheckedOutput[] = [];
  for (const output of outputs) {
    await namingVariable(output, () => checkOne(output, seen, checked));
  }
  return checked;
}

/** `PAYMENTS_REJECTS=a.csv: --rejects a.csv: …`: a bad value from the environment names its variable. */
async function namingVariable(output: OutputPath, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (error) {
    if (output.variable === undefined || !(error instanceof RunError)) throw error;
    throw new RunError(`${output.variable}=${output.path}: ${error.message}`, error.exitCode, {
      kind: error.kind,
      usageHint: error.usageHint,
    });
  }
}

async function checkOne(output: OutputPath, seen: Identity[], checked: CheckedOutput[]): Promise<void> {
  const { option, path } = output;
  if (path === '') throw inputError(`${option} '': the path is empty`);
  if (path === '-') {
    throw inputError(`${option} -: '-' is not a file here; standard output carries the accounts (use a file name)`);
  }
  const info = await statOrUndefined(path, option);
  if (info?.isDirectory()) throw inputError(`${option} ${path}: is a directory; give a file name`);
  const special = info !== undefined && !info.isFile();
  if (info === undefined || info.isFile()) await checkDirectory(option, path);
  // A read-only file is a choice the user made: replace it only if they could write it themselves.
  if (info !== undefined) await checkWritable(option, path, path);
  // A character device (/dev/null, a terminal) may take several outputs: nothing there is replaced.
  if (info?.isCharacterDevice()) {
    checked.push({ ...output, special });
    return;
  }
  const key = info !== undefined ? `${info.dev}:${info.ino}` : `path:${await resolvedPath(path)}`;
  const clash = seen.find((s) => s.key === key);
  if (clash) throw inputError(`${option} ${path}: is the same file as ${clash.option}; give each output its own file`);
  // A path not written yet may still be the same file as the input through a link to be followed.
  seen.push({ key, option });
  if (info !== undefined) seen.push({ key: `path:${await resolvedPath(path)}`, option });
  checked.push({ ...output, special });
}

async function checkJournal(journal: string): Promise<void> {
  if (journal === '') throw inputError(`--journal '': the path is empty`);
  const info = await statOrUndefined(journal, '--journal');
  if (info === undefined) {
    await checkDirectory('--journal', journal);
    return;
  }
  if (!info.isDirectory()) throw inputError(`--journal ${journal}: is not a directory (a journal is a directory)`);
  await checkWritable('--journal', journal, journal);
}

/**
 * The journal `replay` and `inspect` read: it must exist and be a directory (exit 2 before anything
 * is opened, instead of a raw ENOTDIR from deep inside).
 */
export async function checkJournalToRead(journal: string): Promise<void> {
  if (journal === '') throw inputError(`--journal '': the path is empty`);
  const info = await statOrUndefined(journal, '--journal');
  if (info === undefined)
    throw inputError(`--journal ${journal}: does not exist (a journal is a directory written by --journal)`);
  if (!info.isDirectory()) throw inputError(`--journal ${journal}: is not a directory (a journal is a directory)`);
}

/** `payments -o x.csv < x.csv`: standard input (or output) redirected to a file is that file. */
function fdIdentity(fd: number): string | undefined {
  try {
    const info = fstatSync(fd);
    return info.isFile() ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}

async function identityOf(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    return undefined; // the input's own problems are reported when it is opened
  }
}

async function statOrUndefined(path: string, option: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw inputError(`${option} ${path}: a part of the path is not a directory`);
    if (code === 'ELOOP') throw inputError(`${option} ${path}: too many symbolic links`);
    throw inputError(`${option} ${path}: cannot use this path (${code ?? String(error)})`);
  }
}

async function checkDirectory(option: string, path: string): Promise<void> {
  const dir = dirname(await resolvedPath(path));
  let info: Stats;
  try {
    info = await stat(dir);
  } catch {
    throw inputError(`${option} ${path}: the directory ${dirname(path)} does not exist; create it first`);
  }
  if (!info.isDirectory()) throw inputError(`${option} ${path}: ${dirname(path)} is not a directory`);
  await checkWritable(option, path, dir);
}

async function checkWritable(option: string, path: string, target: string): Promise<void> {
  const what = target === path ? path : `the directory ${dirname(path)}`;
  try {
    await access(target, constants.W_OK);
  } catch {
    throw inputError(`${option} ${path}: ${what} is not writable`);
  }
  // access(W_OK) always passes for root: a file with no write bit for anyone is still a read-only file.
  const info = await stat(target).catch(() => undefined);
  if (info?.isFile() && (info.mode & 0o222) === 0) {
    throw inputError(`${option} ${path}: ${what} is read-only; make it writable (chmod u+w) or choose another file`);
  }
}

/** The absolute path with every link followed, a dangling one included (its missing target as named). */
const resolvedPath = (path: string): Promise<string> => resolveLinks(path);

/**
 * Where a path leads once every link is followed. `realpath` fails on a dangling link, so the last
 * part is followed by hand: a link to a file that does not exist yet leads to that file, which is
 * where an output must be written and what it must be compared by.
 */
export async function resolveLinks(path: string): Promise<string> {
  let absolute = resolve(path);
  for (let hops = 0; hops <= linksMax; hops++) {
    try {
      return await realpath(absolute);
    } catch {
      // the whole path does not exist: see whether its last part is a link
    }
    const info = await lstat(absolute).catch(() => undefined);
    if (info?.isSymbolicLink()) {
      absolute = resolve(dirname(absolute), await readlink(absolute));
      continue;
    }
    try {
      return resolve(await realpath(dirname(absolute)), basename(absolute));
    } catch {
      return absolute;
    }
  }
  return absolute;
}
