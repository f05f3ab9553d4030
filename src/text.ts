/**
 * Keyword matching for text the user supplies (transaction types, header names, option values).
 *
 * Keywords are ASCII, and only ASCII letters fold: `String#toLowerCase` maps KELVIN SIGN (U+212A)
 * to `k`, so `chargebac\u212a` would read as a chargeback, and a look-alike must never pass for a
 * keyword. (`toUpperCase` is worse: `ſ` → `S`, `ı` → `I`, `ﬁ` → `FI`.)
 */

/** `text` with A-Z lower-cased and every other character, non-ASCII included, left as it is. */
export function asciiLowerCase(text: string): string {
  let at = 0;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c >= 65 && c <= 90) break;
  }
  if (at === text.length) return text; // the common case: nothing to fold, no copy
  let folded = text.slice(0, at);
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    folded += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : text[at];
  }
  return folded;
}

/** `text` is `keyword` (lower-case ASCII) in any ASCII case. */
export function isKeyword(text: string, keyword: string): boolean {
  return text.length === keyword.length && asciiLowerCase(text) === keyword;
}

/**
 * Characters that must not reach a terminal as they are: C0 controls (a newline splits a one-line
 * error; ESC starts a sequence that can retitle the window or rewrite the screen), DEL, C1 controls
 * (U+009B is a one-character CSI), and the invisible format characters that reorder or hide text
 * (bidi marks, embeddings, overrides and isolates such as U+202E, zero-width characters, line and
 * paragraph separators, the BOM).
 */
const unsafe =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const named: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const hex = (c: number, digits: number): string => c.toString(16).padStart(digits, '0');

/**
 * Text the user supplied (a path, an option value, a field), rendered for one line on a terminal:
 * each unsafe character as an escape (`\n`, `\x1b`, `\x9b`, `\u202e`); everything else as it is.
 * Backslashes are not doubled, so a path that holds a real `\n` reads the same as one with a newline;
 * a message's own backslashes (`--delimiter '\t'`) stay readable.
 */
export function printable(text: string): string {
  return text.replace(unsafe, (ch) => {
    const c = ch.charCodeAt(0);
    return named[ch] ?? (c <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`);
  });
}

const unsafeInJson = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/**
 * A JSON text with the unsafe characters JSON.stringify leaves raw (all but C0, which it escapes)
 * written as `\uXXXX` escapes: the same JSON value, but safe to `cat` to a terminal. (Outside
 * strings JSON has no such characters, so replacing them anywhere is exact.)
 */
export function terminalSafeJson(json: string): string {
  return json.replace(unsafeInJson, (ch) => `\\u${hex(ch.charCodeAt(0), 4)}`);
}
