/**
 * What an audit record may keep of a command line or a message: URLs without their passwords
 * (journal/postgres/url.ts redactUrl, for every URL of a comma-separated list), and no value of an
 * option whose name says it is a secret. Paths of key and token files are kept: never their content
 * (nothing here reads a file).
 */
import { redactUrl } from '../journal/postgres/url.js';

/** Options whose value is itself a secret (a file holding one ends in -file, -creds, -ca: kept). */
const secretOption = /^--?(?:[a-z-]*-)?(?:password|passwd|secret|token|key|credentials)$/i;
const urlPattern = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s,'"]+/g;

/** Every URL in `text` with its password replaced by `***`. */
export function redactText(text: string): string {
  return text.replace(urlPattern, (url) => redactUrl(url));
}

export function redactArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('-') ? arg.indexOf('=') : -1;
    if (eq > 0 && secretOption.test(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=***`);
    } else if (secretOption.test(arg) && i + 1 < args.length) {
      out.push(arg, '***');
      i++;
    } else {
      out.push(redactText(arg));
    }
  }
  return out;
}

/** The CLI's stand-in for `-` (standard input), as the user typed it. */
export const stdinArgument = (arg: string): string => arg.replaceAll('\u0000stdin', '-');
