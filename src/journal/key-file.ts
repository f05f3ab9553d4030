/**
 * Journal keys are read from files, never from the command line (where `ps` shows them): a file
 * holds exactly 64 hex digits (what `openssl rand -hex 32` writes), one trailing line feed allowed.
 * Anything else is exit 2 with one line naming the file, never its content.
 */
import { readFileSync } from 'node:fs';
import { describeError, usageError } from '../errors.js';
import { journalKey, type JournalKey, type JournalKeyring } from './seal.js';

const keyHexDigits = 64;
/** Read no more than this: a key file is 65 bytes; a larger one is refused without reading it all. */
const keyFileBytesMax = 4096;

export function readKeyFile(path: string, option = '--journal-key-file'): JournalKey {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw usageError(`${option} ${path}: cannot read the key file (${describeError(error)})`);
  }
  const bad = (why: string) =>
    usageError(
      `${option} ${path}: ${why}; a key file holds exactly ${keyHexDigits} hex digits (openssl rand -hex 32 > FILE)`,
    );
  if (bytes.byteLength > keyFileBytesMax) throw bad('is too large');
  const text = bytes.toString('latin1');
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (body.length === 0) throw bad('is empty');
  if (body.endsWith('\r')) throw bad('ends its line with a carriage return (CRLF); write it with a plain line feed');
  if (!/^[0-9a-fA-F]*$/.test(body)) throw bad('holds characters other than hex digits');
  if (body.length !== keyHexDigits) throw bad(`holds ${body.length} hex digits, not ${keyHexDigits}`);
  return journalKey(Buffer.from(body, 'hex'));
}

/**
 * The keys named by an option given once or more, each a file or a comma-separated list of files:
 * in order, duplicates (the same key twice) dropped.
 */
export function readKeyFiles(values: readonly string[], option = '--journal-key-file'): JournalKeyring {
  const keys: JournalKey[] = [];
  for (const value of values)
    for (const path of value.split(',')) {
      if (path === '') throw usageError(`${option}: an empty file name in "${value}"`, { usageHint: true });
      const key = readKeyFile(path, option);
      if (!keys.some((k) => k.id === key.id)) keys.push(key);
    }
  return keys;
}
