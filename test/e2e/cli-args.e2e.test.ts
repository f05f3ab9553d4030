/** Arguments like a good CLI: stdin without `-`, strictness with suggestions, values echoed as typed; help pages. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { optionsOfCommand, run } from '../../src/cli/run.js';
import type { CliIo } from '../../src/cli/io.js';
import { errorLine, repoRoot, runCli } from '../helpers/cli.js';

const sample = readFileSync(join(repoRoot, 'data/sample.csv'), 'utf8');
const expected = readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8');
const tmp = () => mkdtempSync(join(tmpdir(), 'payments-args-'));
/** The built help module: its pages are files beside it in dist/. */
const builtHelp = (): Promise<typeof import('../../src/cli/help-text.js')> =>
  import(pathToFileURL(join(repoRoot, 'dist/cli/help-text.js')).href);
const runNode = async (args: string[]): Promise<string> => (await promisify(execFile)(process.execPath, args)).stdout;

async function expectMistake(args: string[], pattern: RegExp, env?: NodeJS.ProcessEnv) {
  const result = await runCli(args, { env });
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(errorLine(result.stderr)).toMatch(pattern);
  expect(result.stderr).not.toContain('\\u0000');
}

describe('input', () => {
  it('is standard input when no file is given', async () => {
    const result = await runCli(['--quiet'], { stdin: sample });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expected);
  });
  it('on a terminal with no file given is a one-line usage error (in-process run)', async () => {
    const errors: string[] = [];
    const io: CliIo = {
      stdout: async () => undefined,
      stderr: (text) => void errors.push(text),
      stderrIsTty: true,
      stdinIsTty: true,
    };
    expect(await run([], io)).toBe(2);
    expect(errors[0]).toMatch(/^payments: no input: give a transactions CSV file, or pipe one in/);
  });
  it('-o writes the accounts to a file and nothing to standard output', async () => {
    const out = join(tmp(), 'accounts.csv');
    const result = await runCli(['data/sample.csv', '-o', out, '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe(expected);
  });
});

describe('argument mistakes: one line, exit 2, what to type', () => {
  it('a mistyped option gets a suggestion', () =>
    expectMistake(['data/sample.csv', '--wokers', '2'], /unknown option --wokers; did you mean --workers\?/));
  it('a mistyped generate option gets one too', () =>
    expectMistake(['generate', '-n', '1', '-c', '1', '--bad-rat', '0.1', 'x.csv'], /did you mean --bad-rate\?/));
  it("another command's option is named as such", () =>
    expectMistake(
      ['generate', '-n', '1', '-c', '1', '--workers', '2', 'x.csv'],
      /--workers is not an option of this command/,
    ));
  it('a mistyped command is named, not read as a file', () =>
    expectMistake(['genrate', '-n', '10', '-c', '2', 'x.csv'], /unknown command "genrate"; did you mean "generate"\?/));
  it('a bad value is echoed as typed', () =>
    expectMistake(
      ['data/sample.csv', '--workers', 'abc'],
      /--workers abc: --workers must be a whole number from 1 to 64/,
    ));
  it('a short flag is echoed as typed', () =>
    expectMistake(['data/sample.csv', '-w', '1e3'], /-w 1e3: --workers must be a whole number/));
  it('a bad value from the environment names its variable', () =>
    expectMistake(['data/sample.csv'], /^payments: PAYMENTS_WORKERS=abc: --workers must be/, {
      PAYMENTS_WORKERS: 'abc',
    }));
  it('node --threads takes 1 to 64, from the command line or PAYMENTS_THREADS, checked before connecting', async () => {
    const node = ['node', '--nats', 'nats://127.0.0.1:1', '--journal', 'postgres://127.0.0.1:1/payments'];
    await expectMistake([...node, '--threads', '0'], /--threads 0: --threads must be a whole number from 1 to 64/);
    await expectMistake([...node, '--threads', '65'], /--threads 65: --threads must be a whole number from 1 to 64/);
    await expectMistake(node, /^payments: PAYMENTS_THREADS=two: --threads must be a whole number/, {
      PAYMENTS_THREADS: 'two',
    });
  });
  it('an option missing its value is an error, not the default', () =>
    expectMistake(['data/sample.csv', '--workers'], /--workers needs a value/));
  it("a command's option missing its value is the same mistake (exit 2), not a failure", async () => {
    await expectMistake(['submit', 'data/sample.csv', '--run'], /^payments: --run needs a value$/);
    await expectMistake(['result', '--run'], /^payments: --run needs a value$/);
    await expectMistake(['node', '--nats'], /^payments: --nats needs a value$/);
    await expectMistake(['inspect', '--journal', 'j', '--client'], /^payments: --client needs a value$/);
    await expectMistake(['migrate', '--journal'], /^payments: --journal needs a value$/);
  });
  it('a short option missing its value is named as typed (-o, not --o)', async () => {
    await expectMistake(['data/sample.csv', '-o'], /^payments: -o needs a value$/);
    await expectMistake(['data/sample.csv', '-w'], /^payments: -w needs a value$/);
  });
  it('a bad log level is one line', () =>
    expectMistake(
      ['data/sample.csv', '--log-level', 'loud'],
      /--log-level loud: --log-level must be one of fatal, error/,
    ));
  it('generate with - and a bad value never shows the stdin token', () =>
    expectMistake(['generate', '-n', 'x', '-c', '2', '-'], /-n x: --rows must be a whole number/));
  it('too many files', () => expectMistake(['a.csv', 'b.csv'], /too many arguments|unexpected argument "b\.csv"/));
  it('an option given twice is refused, named by its long spelling, whichever spellings were used', async () => {
    await expectMistake(['a.csv', '--output', 'o1.csv', '--output', 'o2.csv'], /: --output is given more than once$/);
    await expectMistake(['a.csv', '-o', 'o1.csv', '--output', 'o2.csv'], /: --output is given more than once$/);
    await expectMistake(['a.csv', '--rejects', 'r1.csv', '--rejects=r2.csv'], /: --rejects is given more than once$/);
    await expectMistake(['submit', 'a.csv', '--run', 'x', '--run', 'y'], /: --run is given more than once$/);
  });
  it('shards --retry is repeatable (an array option): not refused as given twice', async () => {
    // The journal is checked after the arguments: its error shows they were accepted.
    const args = ['shards', '--run', 'r', '--journal', 'somedir', '--retry', '0', '--retry', '1'];
    await expectMistake(args, /--journal somedir: the cluster needs a PostgreSQL URL/);
  });
  it('several key files are allowed (a rotation reads under old and new keys)', () =>
    expectMistake(
      ['a.csv', '--journal-key-file', 'k1', '--journal-key-file', 'k2'],
      /--journal-key-file seals a journal: it needs --journal/,
    ));
});

describe('common options on every command', () => {
  it('generate --quiet says nothing; replay -q and inspect --log-level debug are known', async () => {
    const out = join(tmp(), 'g.csv');
    const gen = await runCli(['generate', '--rows', '10', '--clients', '2', '--quiet', '--no-progress', out]);
    expect(gen.code).toBe(0);
    expect(gen.stderr).toBe('');
    const replay = await runCli(['replay', '-q', '--no-color', '--journal', join(tmp(), 'none')]);
    expect(errorLine(replay.stderr)).not.toMatch(/unknown option/);
    const inspect = await runCli(['inspect', '--log-level', 'debug', '--journal', join(tmp(), 'none')]);
    expect(errorLine(inspect.stderr)).not.toMatch(/unknown option/);
  });
  it('help shows only kebab-case names, with a long name for every short one', async () => {
    for (const args of [['--help'], ['generate', '--help'], ['replay', '--help']]) {
      const help = (await runCli(args)).stdout;
      expect(help).not.toMatch(/--[a-z]+[A-Z]/);
      expect(help).not.toMatch(/^\s+-[a-zA-Z](\s|,\s*$)/m);
    }
    const generateHelp = (await runCli(['generate', '--help'])).stdout;
    expect(generateHelp).toMatch(/-n, --rows/);
    expect(generateHelp).toMatch(/-c, --clients/);
    expect(generateHelp).toMatch(/--bad-rate/);
    expect(generateHelp).toMatch(/-q, --quiet/);
  });
  it('answers a help page from the build-time text, the same bytes the parser prints', async () => {
    const { helpFile, helpPages } = await builtHelp();
    for (const page of helpPages) {
      const argv = page === '' ? ['--help'] : [page, '--help'];
      const fromBuild = await runCli(argv);
      expect(readFileSync(helpFile(page), 'utf8')).toBe(fromBuild.stdout);
      const script = `const { run } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/cli/run.js')).href)}); process.exitCode = await run(${JSON.stringify(argv)});`;
      const fromParser = await runNode(['--input-type=module', '-e', script]);
      expect({ page, code: fromBuild.code, stdout: fromBuild.stdout }).toEqual({ page, code: 0, stdout: fromParser });
    }
  });
  it('leaves help to the parser on a narrow terminal and for anything more than a help page', async () => {
    const { prerenderedHelp } = await builtHelp();
    expect(prerenderedHelp(['--help'], undefined)).toMatch(/^payments \[input\]/);
    expect(prerenderedHelp(['--help'], 80)).toBeUndefined();
    expect(prerenderedHelp(['--help', '-w', '2'], undefined)).toBeUndefined();
    expect(prerenderedHelp(['frobnicate', '--help'], undefined)).toBeUndefined();
    expect(prerenderedHelp(['generate', '-h'], 120)).toMatch(/--rows/);
  });
});

describe('"--"', () => {
  it('is refused (exit 2, one line), not taken as "read standard input"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'payments-dashdash-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'type,client,tx,amount\ndeposit,1,1,5\n');
    const result = await runCli(['--', input]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toMatch(/"--" is not accepted/);
  });
});

describe('payments completion', () => {
  it('prints a bash/zsh completion script and nothing else', async () => {
    const result = await runCli(['completion']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/###-begin-payments-completions-###/);
    expect(result.stdout).toMatch(/complete .* payments/);
  });
  it('takes nothing else: an extra word is exit 2 with no script; --help describes it', async () => {
    await expectMistake(['completion', 'extra'], /^payments: completion takes no arguments: extra$/);
    const help = await runCli(['completion', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^payments completion\n\nPrint a bash\/zsh completion script/);
    expect(help.stdout).not.toContain('###-begin');
  });
  it('completes command and option names', async () => {
    const result = await runCli(['--get-yargs-completions', 'payments', 'generate', '--']);
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['--rows', '--clients', '--bad-rate']));
  });
});

describe('the environment', () => {
  it('an unrelated PAYMENTS_* variable does not break a run', async () => {
    const result = await runCli(['data/sample.csv', '-q'], { env: { PAYMENTS_FOO: '1', PAYMENTS_ROWS: '5' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expected);
  });
  it('a bad path from the environment names its variable', async () => {
    const dir = tmp();
    const input = join(dir, 'in.csv');
    writeFileSync(input, sample);
    await expectMistake(
      [input, '-q'],
      /^payments: PAYMENTS_REJECTS=.*in\.csv: --rejects .*: is the same file as the input/,
      {
        PAYMENTS_REJECTS: input,
      },
    );
  });
  it('a boolean from the environment is true/false/1/0, anything else names the variable', async () => {
    await expectMistake(['data/sample.csv'], /^payments: PAYMENTS_QUIET=maybe: --quiet must be true or false/, {
      PAYMENTS_QUIET: 'maybe',
    });
    for (const [value, quiet] of [
      ['1', true],
      ['true', true],
      ['0', false],
      ['false', false],
    ] as const) {
      const result = await runCli(['data/sample.csv'], { env: { PAYMENTS_QUIET: value } });
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(expected);
      expect(result.stderr === '').toBe(quiet);
    }
  });
});

describe('on/off options on the command line', () => {
  it('--quiet=1/true/0/false and --no-quiet=1 mean what they say; anything else names the option', async () => {
    for (const [flag, quiet] of [
      ['--quiet=1', true],
      ['--quiet=TRUE', true],
      ['--quiet=0', false],
      ['--quiet=false', false],
      ['--no-quiet=1', false],
      ['--no-quiet=0', true],
    ] as const) {
      const result = await runCli(['data/sample.csv', flag]);
      expect(result.code, flag).toBe(0);
      expect(result.stdout).toBe(expected);
      expect(result.stderr === '', flag).toBe(quiet);
    }
    await expectMistake(['data/sample.csv', '--quiet=yes'], /^payments: --quiet=yes: --quiet must be true or false/);
    // The short spelling, and a common option before the command, are read the same way.
    const short = await runCli(['data/sample.csv', '-q=1']);
    expect(short.code).toBe(0);
    expect(short.stderr).toBe('');
    await expectMistake(['data/sample.csv', '-q=yes'], /--quiet must be true or false/);
    await expectMistake(['--quiet=1', 'completion', 'extra'], /^payments: completion takes no arguments: extra$/);
    const quietCompletion = await runCli(['completion', '-q']);
    expect(quietCompletion.code).toBe(0);
    expect(quietCompletion.stdout).toMatch(/###-begin-payments-completions-###/);
  });
  it('a half-typed --quiet= while the shell completes is not a mistake', async () => {
    const result = await runCli(['--get-yargs-completions', 'payments', 'data/sample.csv', '--quiet=']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });
  it('--no-X of an option that takes a value is exit 2 saying so, not a file named "false"', async () => {
    await expectMistake(
      ['data/sample.csv', '--no-rejects'],
      /^payments: --no-rejects: --rejects takes a value; it has no --no-rejects form$/,
    );
    await expectMistake(['generate', '--no-rows', join(tmp(), 'x.csv')], /^payments: --no-rows: --rows takes a value/);
  });
});

describe('replay and inspect check --journal and echo numbers as typed', () => {
  for (const command of ['replay', 'inspect']) {
    it(`${command} --journal naming a file or nothing is exit 2`, async () => {
      await expectMistake(
        [command, '--journal', 'data/sample.csv'],
        /^payments: --journal data\/sample\.csv: is not a directory \(a journal is a directory\)$/,
      );
      await expectMistake([command, '--journal', join(tmp(), 'none')], /^payments: --journal .*none: does not exist/);
    });
  }
  it('replay --as-of-line abc / 99999999999999999999 are echoed as typed', async () => {
    await expectMistake(
      ['replay', '--journal', tmp(), '--as-of-line', 'abc'],
      /^payments: --as-of-line abc: --as-of-line must be a whole number/,
    );
    await expectMistake(
      ['replay', '--journal', tmp(), '--as-of-line', '99999999999999999999'],
      /^payments: --as-of-line 99999999999999999999: --as-of-line must be a whole number/,
    );
  });
  it('inspect --client 1.5 is echoed as typed', () =>
    expectMistake(
      ['inspect', '--journal', tmp(), '--client', '1.5'],
      /^payments: --client 1\.5: --client must be a whole number from 0 to 65535/,
    ));
});

describe('options from the environment', () => {
  const commands = ['', 'generate', 'replay', 'inspect', 'convert', 'reseal', 'node', 'submit', 'result'];
  const more = ['shards', 'audit', 'migrate', 'roles'];
  it.each([...commands, ...more])(
    'every option of "%s" may come from the environment, and no other',
    async (command) => {
      const help = await runCli([...(command === '' ? [] : [command]), '--help']);
      expect(help.code, help.stderr).toBe(0);
      const shown = [...help.stdout.matchAll(/^\s+(?:-\w, )?--([a-z-]+)/gm)].map((m) => m[1]!);
      const offered = shown.filter((o) => o !== 'help' && o !== 'version');
      expect(new Set(optionsOfCommand(command === '' ? undefined : command))).toEqual(new Set(offered));
    },
  );
  it('a variable of the main command does not break another command', async () => {
    const result = await runCli(['roles'], { env: { PAYMENTS_WORKERS: '3', PAYMENTS_REJECTS: 'r.csv' } });
    expect(result.code, result.stderr).toBe(0);
  });
  it('PAYMENTS_NATS_PASSWORD_FILE reaches a node (it used to be dropped as not an option of it)', () =>
    expectMistake(
      ['node', '--nats', 'nats://127.0.0.1:1', '--journal', 'postgres://127.0.0.1:1/x'],
      /--nats-password-file \/nonexistent\/password: ENOENT/,
      { PAYMENTS_NATS_PASSWORD_FILE: '/nonexistent/password' },
    ));
});

describe('common options before the command name', () => {
  it('do not hide the command from the environment: PAYMENTS_WORKERS does not break -q roles', async () => {
    const result = await runCli(['-q', 'roles'], { env: { PAYMENTS_WORKERS: '3' } });
    expect(result.code, result.stderr).toBe(0);
  });
  it('an unknown option given twice still gets its suggestion', () =>
    expectMistake(['a.csv', '--outptu', 'a', '--outptu', 'b'], /unknown option --outptu; did you mean --output\?/));
});
