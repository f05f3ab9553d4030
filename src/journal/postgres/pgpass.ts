/**
 * libpq's password file (PGPASSFILE, else ~/.pgpass): lines `host:port:database:user:password`,
 * `*` matching anything, `\:` and `\\` escaped; the first matching line wins. Read here rather than
 * through pg's built-in support, which prints a deprecation warning on stderr at every connection.
 * Like libpq, a file that others can read is ignored.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface PasswordLookup {
  host: string;
  port: number;
  database: string;
  user: string;
}

function passwordFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PGPASSFILE ?? join(homedir(), '.pgpass');
}

/** The password the file gives for this connection, or undefined. */
export function pgpassPassword(lookup: PasswordLookup, path = passwordFilePath()): string | undefined {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) return undefined;
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const wanted = [lookup.host, String(lookup.port), lookup.database, lookup.user];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = splitFields(line);
    if (fields.length < 5) continue;
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) return fields.slice(4).join(':');
  }
  return undefined;
}

function splitFields(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) current += line[++i];
    else if (c === ':' && fields.length < 4) {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current);
  return fields;
}
