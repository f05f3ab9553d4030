/**
 * `payments --help` and `payments <command> --help` answer from text that the build renders once
 * through the real parser (scripts/render-help.mjs runs `run([..., '--help'])` into dist/cli/help/):
 * loading yargs and measuring every cell's width took most of a help call's time. The text is
 * rendered at the parser's widest wrap, so it is used only where yargs would wrap at that width too
 * (off a terminal, or a terminal at least that wide); anything else goes to the parser.
 */
import { readFileSync } from 'node:fs';

/** The width yargs wraps help to: min(this, the terminal's columns). */
export const helpWrapColumns = 100;

/** Commands with a help page of their own ('' is the main command). */
export const helpPages = [
  '',
  'generate',
  'replay',
  'inspect',
  'convert',
  'node',
  'submit',
  'result',
  'shards',
] as const;

/** The file a help page is rendered into, beside this module once built. */
export function helpFile(page: string): URL {
  return new URL(`help/${page === '' ? 'payments' : page}.txt`, import.meta.url);
}

/** `payments --version`: the package's version, read without the parser. */
export function versionAnswer(argv: readonly string[]): string | undefined {
  if (argv.length !== 1 || (argv[0] !== '--version' && argv[0] !== '-V')) return undefined;
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `${version}\n`;
}

/** The prerendered page for argv, or undefined when argv asks for more than a help page. */
export function prerenderedHelp(argv: readonly string[], terminalColumns: number | undefined): string | undefined {
  if (terminalColumns !== undefined && terminalColumns < helpWrapColumns) return undefined;
  const asksHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h';
  let page: string | undefined;
  if (argv.length === 1 && asksHelp(argv[0])) page = '';
  else if (argv.length === 2 && asksHelp(argv[1]) && (helpPages as readonly string[]).includes(argv[0]!))
    page = argv[0];
  if (page === undefined) return undefined;
  try {
    return readFileSync(helpFile(page), 'utf8');
  } catch {
    return undefined; // not rendered (a build without the step): the parser answers
  }
}
