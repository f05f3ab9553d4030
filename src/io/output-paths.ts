/**
 * The one rule for output paths (SPEC second edition, "Outputs"), checked for every output of every
 * command before anything is read: an output may not be the input, another output, standard
 * output, or inside a journal; it must be a file name (not a directory, not `-`) in a writable
 * directory that exists, and short enough for its filesystem. A path that breaks it is exit 2 with
 * one line naming the option, so a run never fails at the end for a reason it could see at the start.
 *
 * "The same file" is decided by device and inode where the file exists (links, hard links,
 * /dev/stdout and /proc/self/fd/1 all land on it) and by the path resolved as the kernel would
 * where it does not yet. Standard input and output count whatever they are (a file, a pipe, a
 * socket), except a character device: what a terminal or /dev/null receives is not kept as a file.
 */
import { constants, fstatSync, type Stats } from 'node:fs';
import { access, readlink, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorCode, inputError, RunError } from '../errors.js';
import { identity, journalAround, journalPlace, type JournalPlace } from './journal-places.js';
import { sampleTempPath, writtenInPlace } from './output-names.js';
import { resolveReal } from './real-path.js';

export interface OutputPath {
  /** How the user named it, e.g. `--rejects`. */
  readonly option: string;
  readonly path: string;
  /** The environment variable the path came from (`PAYMENTS_REJECTS`), to name it in messages. */
  readonly variable?: string;
}

export interface OutputRule {
  /** The file the command reads (`'-'` for standard input). */
  readonly input?: string;
  readonly outputs?: readonly OutputPath[];
  /** A journal directory: written (it may not exist yet) or only read (`reads`: it must exist). */
  readonly journal?: OutputPath & { readonly reads?: boolean };
  /** The command writes standard output (the accounts): it is one more output. */
  readonly stdout?: boolean;
}

/** What an output path turned out to be; `special` (a device or FIFO) is written in place. */
export interface CheckedOutput extends OutputPath {
  readonly special: boolean;
}

interface Taken {
  readonly key: string;
  readonly option: string;
}

/** Applies the rule; returns the outputs with whether each is written in place. */
export async function checkOutputs(rule: OutputRule): Promise<CheckedOutput[]> {
  const journals: JournalPlace[] = [];
  if (rule.journal !== undefined) {
    const journal = rule.journal;
    await namingVariable(journal, () => checkJournal(journal.path, journal.reads ?? false));
    journals.push(await journalPlace(journal.path, journal.path));
  }
  const taken: Taken[] = [];
  if (rule.input !== undefined && rule.input !== '-') {
    const key = await identityOf(rule.input);
    if (key !== undefined) taken.push({ key, option: 'the input' });
  }
  const stdin = fstatOrUndefined(0);
  // Standard input when it is read; a pipe or socket always: written to, it fills and blocks, unread.
  if (stdin !== undefined && (rule.input === '-' ? !stdin.isCharacterDevice() : stdin.isFIFO() || stdin.isSocket())) {
    taken.push({ key: identity(stdin), option: 'standard input' });
  }
  if (rule.stdout) await checkStdout(taken, journals);
  const checked: CheckedOutput[] = [];
  for (const output of rule.outputs ?? []) {
    await namingVariable(output, async () => checked.push(await checkOne(output, taken, journals)));
  }
  return checked;
}

/** `PAYMENTS_REJECTS=a.csv: --rejects a.csv: …`: a bad value from the environment names its variable. */
async function namingVariable(output: OutputPath, check: () => Promise<unknown>): Promise<void> {
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

/**
 * Standard output as an output: a file may not be the input or inside a journal (`>> J/x`); a pipe
 * or socket is remembered so that `--rejects /dev/stdout` does not mix rejects into the accounts.
 */
async function checkStdout(taken: Taken[], journals: readonly JournalPlace[]): Promise<void> {
  const info = fstatOrUndefined(1);
  if (info === undefined || info.isCharacterDevice()) return;
  const key = identity(info);
  const clash = taken.find((t) => t.key === key);
  if (clash) throw inputError(`standard output is the same file as ${clash.option}; redirect it to another file`);
  if (info.isFile()) {
    // Linux names the file behind a descriptor; elsewhere the journal's own files are still compared.
    const path = await readlink('/proc/self/fd/1').catch(() => undefined);
    const real = path?.startsWith('/') ? path : '/nonexistent/standard-output';
    const inside = await journalAround(real, info, journals);
    if (inside) throw inputError(`standard output is inside the journal ${inside.journal}; redirect it outside`);
  }
  taken.push({ key, option: 'standard output' });
}

async function checkOne(output: OutputPath, taken: Taken[], journals: readonly JournalPlace[]): Promise<CheckedOutput> {
  const { option, path } = output;
  if (path === '') throw inputError(`${option} '': the path is empty`);
  if (path === '-') {
    throw inputError(`${option} -: '-' is not a file here; standard output carries the accounts (use a file name)`);
  }
  const info = await statOrUndefined(path, option);
  if (info?.isDirectory() || (info === undefined && path.endsWith('/'))) {
    throw inputError(`${option} ${path}: is a directory; give a file name`);
  }
  const real = await resolveReal(path);
  const inside = await journalAround(real, info, journals);
  if (inside?.file !== undefined) {
    throw inputError(`${option} ${path}: is the same file as ${inside.file}, inside the journal ${inside.journal}`);
  }
  if (inside) throw inputError(`${option} ${path}: is inside the journal ${inside.journal}; write outputs outside it`);
  const special = writtenInPlace(path, info);
  // A character device (/dev/null, a terminal) may take several outputs: nothing there is kept.
  if (!info?.isCharacterDevice()) {
    const key = info !== undefined ? identity(info) : `path:${real}`;
    const clash = taken.find((t) => t.key === key || t.key === `path:${real}`);
    if (clash)
      throw inputError(`${option} ${path}: is the same file as ${clash.option}; give each output its own file`);
    // A path not written yet may still be the same file as another through a link to be followed.
    taken.push({ key, option }, { key: `path:${real}`, option });
  }
  if (!special) await checkDirectory(option, path, real);
  // A read-only file is a choice the user made: replace it only if they could write it themselves.
  if (info !== undefined) await checkWritable(option, path, path);
  return { ...output, special };
}

async function checkJournal(journal: string, reads: boolean): Promise<void> {
  if (journal === '') throw inputError(`--journal '': the path is empty`);
  const info = await statOrUndefined(journal, '--journal');
  if (info === undefined) {
    if (reads) throw inputError(`--journal ${journal}: does not exist (a journal is a directory written by --journal)`);
    await checkDirectory('--journal', journal, await resolveReal(journal));
    return;
  }
  if (!info.isDirectory()) throw inputError(`--journal ${journal}: is not a directory (a journal is a directory)`);
  if (!reads) await checkWritable('--journal', journal, journal);
}

function fstatOrUndefined(fd: number): Stats | undefined {
  try {
    return fstatSync(fd);
  } catch {
    return undefined; // closed
  }
}

async function identityOf(path: string): Promise<string | undefined> {
  try {
    return identity(await stat(path));
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
    if (code === 'ENAMETOOLONG') throw tooLong(option, path);
    throw inputError(`${option} ${path}: cannot use this path (${code ?? String(error)})`);
  }
}

const isDirectory = (path: string): Promise<boolean> =>
  stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );

const tooLong = (option: string, path: string): RunError =>
  inputError(`${option} ${path}: the name is too long for its filesystem (ENAMETOOLONG); choose a shorter one`);

/** The directory exists, is writable, and takes the temporary file written beside the target. */
async function checkDirectory(option: string, path: string, real: string): Promise<void> {
  const dir = dirname(real);
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (error) {
    if (errorCode(error) === 'ENAMETOOLONG') throw tooLong(option, path);
    // The named directory exists when the path is a symbolic link to a missing one: name that.
    const missing = (await isDirectory(dirname(path)))
      ? `${dirname(real)} (where the symbolic link leads)`
      : dirname(path);
    throw inputError(`${option} ${path}: the directory ${missing} does not exist; create it first`);
  }
  if (!info.isDirectory()) throw inputError(`${option} ${path}: ${dirname(path)} is not a directory`);
  await checkWritable(option, path, dir);
  if (option !== '--journal') {
    const temp = await stat(sampleTempPath(dir)).then(
      () => undefined,
      (error: unknown) => errorCode(error),
    );
    if (temp === 'ENAMETOOLONG') throw tooLong(option, path);
  }
  await refusePseudoFilesystem(option, path, dir);
}

/**
 * Kernel filesystems (statfs magic numbers) in which no file can be created: access() answers yes to
 * root in them, so the run would fail only at its end, and Node's mkdir({ recursive }) never returns
 * in procfs. Asked with statfs, which creates nothing.
 */
const pseudoFilesystems = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0xf97cff8c, 'selinuxfs'],
  [0x1cd1, 'devpts'],
  [0x6e736673, 'nsfs'],
]);

async function refusePseudoFilesystem(option: string, path: string, dir: string): Promise<void> {
  const type = (await statfs(dir).catch(() => undefined))?.type;
  const name = type === undefined ? undefined : pseudoFilesystems.get(type);
  if (name !== undefined)
    throw inputError(
      `${option} ${path}: ${dirname(path)} is in ${name}, where no file can be created; choose another directory`,
    );
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
