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
