/**
 * Secrets come from files, never from arguments (which `ps` and shell histories show) nor from
 * their values in the environment: `--x-file FILE` or `PAYMENTS_X_FILE`, the convention container
 * platforms use for mounted secrets. A secret is read once, its first line, and never printed: an
 * error names the option and the file only.
 */
import { readFileSync } from 'node:fs';
import { describeError, usageError } from '../errors.js';

/** The first line of `file` (surrounding blanks and a CR trimmed): exit 2 naming `option` when unreadable or empty. */
export function readSecretFile(option: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`--${option} ${file}: ${describeError(error)}`);
  }
  const secret = text.split(/\r?\n/)[0]!.trim();
  if (secret === '')
    throw usageError(`--${option} ${file}: the file holds no ${option.replace(/-file$/, '').replaceAll('-', ' ')}`);
  return secret;
}
