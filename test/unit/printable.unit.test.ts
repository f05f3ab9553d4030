/**
 * Text the user supplied reaches an error line printable: no control character, C1 control or bidi
 * override splits the line or acts on the terminal, on a terminal (printable) or off it (JSON).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonLine, prettyLine } from '../../src/ops/log-format.js';
import { printable, terminalSafeJson } from '../../src/text.js';

const unsafe =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/;
const nasty = fc.constantFrom(
  '\n',
  '\r',
  '\t',
  '\x1b',
  '\x07',
  '\x00',
  '\x7f',
  '\x9b',
  '\x85',
  '\u202e',
  '\u2066',
  '\u200f',
  '\u2028',
  '\ufeff',
);
const text = fc
  .array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 3 }), nasty), { maxLength: 12 })
  .map((a) => a.join(''));

describe('printable', () => {
  it('escapes newlines, escape sequences, C1 controls and bidi overrides, and nothing else', () => {
    expect(printable('x\x1b]0;pwned\x07.csv')).toBe('x\\x1b]0;pwned\\x07.csv');
    expect(printable('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(printable('\x7f\x9b2J')).toBe('\\x7f\\x9b2J');
    expect(printable('invoice\u202efdp.exe \u2066x\u2069')).toBe('invoice\\u202efdp.exe \\u2066x\\u2069');
    expect(printable('données €5 — 日本 "q" \\t')).toBe('données €5 — 日本 "q" \\t');
  });

  it('leaves no unsafe character in any text, and changes no safe one', () =>
    fc.assert(
      fc.property(text, (s) => {
        const shown = printable(s);
        expect(shown).not.toMatch(unsafe);
        if (!unsafe.test(s)) expect(shown).toBe(s);
      }),
      { numRuns: 2000 },
    ));
});

describe('terminalSafeJson', () => {
  it('is the same JSON value with no unsafe character left raw', () =>
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ unit: 'binary' })), (s) => {
        const json = terminalSafeJson(JSON.stringify({ msg: s, path: [s] }));
        expect(json).not.toMatch(unsafe);
        expect(JSON.parse(json)).toEqual({ msg: s, path: [s] });
      }),
      { numRuns: 2000 },
    ));
});

describe('log lines', () => {
  it('a JSON line (off a terminal) keeps the message exact and escapes C1 and bidi characters', () => {
    const line = jsonLine('error', 'x\u202e\x9b\n.csv: no such file');
    expect(line).toMatch(/\n$/);
    expect(line.slice(0, -1)).not.toMatch(unsafe);
    expect(JSON.parse(line).msg).toBe('x\u202e\x9b\n.csv: no such file');
  });

  it('a readable line (on a terminal) is one line with the message and fields escaped', () => {
    const json = JSON.stringify({ level: 'warn', time: 0, msg: 'x\x1b]0;pwned\x07\n.csv', path: 'y\u202e\x9b' });
    const line = prettyLine(json, false);
    expect(line.slice(0, -1)).not.toMatch(unsafe);
    expect(line).toMatch(/ WARN  x\\x1b\]0;pwned\\x07\\n\.csv \{"path":"y\\u202e\\u009b"\}\n$/);
  });
});
