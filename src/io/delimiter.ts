/**
 * The `-d/--delimiter` option: one ASCII character. Without it, `,`, or a tab for a `.tsv` or
 * `.tsv.gz` file. A tab may be written as a real tab, `\t` or `tab`.
 */
import { usageError } from '../errors.js';
import { isKeyword } from '../text.js';

export interface DelimiterChoice {
  readonly delimiter: string;
  /** Chosen by the user: the first line is then not checked for another delimiter. */
  readonly explicit: boolean;
}

export function chooseDelimiter(option: string | undefined, input: string): DelimiterChoice {
  if (option === undefined) return { delimiter: /\.tsv(\.gz)?$/i.test(input) ? '\t' : ',', explicit: false };
  const value = option === '\\t' || isKeyword(option, 'tab') ? '\t' : option;
  const refuse = (why: string) =>
    usageError(`--delimiter ${JSON.stringify(option)}: ${why}; for example --delimiter ';' or --delimiter tab`, {
      usageHint: true,
    });
  if (value.length !== 1) throw refuse('must be exactly one character');
  if (value === '"') throw refuse('the quote character cannot be the delimiter');
  if (value === '\r' || value === '\n') throw refuse('a line break cannot be the delimiter');
  if (value.charCodeAt(0) > 0x7e) throw refuse('must be an ASCII character');
  return { delimiter: value, explicit: true };
}
