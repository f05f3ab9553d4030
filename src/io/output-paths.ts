/**
 * Every output path is checked before the input is read (SPEC second edition, "Outputs"): a run that
 * would overwrite its own input, write two outputs to one file, or fail at the end because a
 * directory is missing stops at once with exit 2 and one line naming the option.
 */
import { constants, fstatSync, type Stats } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { errorCode, inputError } from '../errors.js';

export interface OutputPath {
  /** How the user named it, e.g. `--rejects`. */
  readonly option: string;
  readonly path: string;
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
  journal?: string,
): Promise<CheckedOutput[]> {
  const seen: Identity[] = [];
  if (input !== undefined) {
    const key = input === '-' ? stdinIdentity() : await identityOf(input);
    if (key !== undefined) seen.push({ key, option: input === '-' ? 'standard input' : 'the input' });
  }
  if (journal !== undefined) await checkJournal(journal);
  const checked: CheckedOutput[] = [];
  for (const output of outputs) {
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
      continue;
    }
    const key = info !== undefined ? `${info.dev}:${info.ino}` : `path:${await resolvedPath(path)}`;
    const clash = seen.find((s) => s.key === key);
    if (clash)
      throw inputError(`${option} ${path}: is the same file as ${clash.option}; give each output its own file`);
    // A path not written yet may still be the same file as the input through a link to be followed.
    seen.push({ key, option });
    if (info !== undefined) seen.push({ key: `path:${await resolvedPath(path)}`, option });
    checked.push({ ...output, special });
  }
  return checked;
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

/** `payments -o x.csv < x.csv`: standard input redirected from a file is that file. */
function stdinIdentity(): string | undefined {
  try {
    const info = fstatSync(0);
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
  try {
    await access(target, constants.W_OK);
  } catch {
    const what = target === path ? path : `the directory ${dirname(path)}`;
    throw inputError(`${option} ${path}: ${what} is not writable`);
  }
}

/** The absolute path with every existing link followed (a missing last part is kept as named). */
async function resolvedPath(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    try {
      return resolve(await realpath(dirname(absolute)), basename(absolute));
    } catch {
      return absolute;
    }
  }
}
