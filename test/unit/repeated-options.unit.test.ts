/** An option given twice is refused by name, unless it is one that repeats by design. */
import { describe, expect, it } from 'vitest';
import { refuseRepeatedOptions } from '../../src/cli/options.js';

const parsed = (extra: Record<string, unknown>) => ({ _: [], $0: 'payments', ...extra });

describe('repeated options', () => {
  it('passes options given once', () => {
    expect(() => refuseRepeatedOptions(parsed({ output: 'a.csv', o: 'a.csv', workers: '2' }))).not.toThrow();
  });
  it('names a repeated option by its long spelling, whatever order yargs lists its keys in', () => {
    expect(() => refuseRepeatedOptions(parsed({ o: ['a', 'b'], output: ['a', 'b'] }))).toThrow(
      /^--output is given more than once$/,
    );
    expect(() => refuseRepeatedOptions(parsed({ w: ['1', '2'] }))).toThrow(/^-w is given more than once$/);
    expect(() => refuseRepeatedOptions(parsed({ 'log-level': ['a', 'b'], logLevel: ['a', 'b'] }))).toThrow(
      /^--log-level is given more than once$/,
    );
  });
  it('lets key files and options declared as arrays repeat', () => {
    const keys = { 'journal-key-file': ['k1', 'k2'], journalKeyFile: ['k1', 'k2'] };
    expect(() => refuseRepeatedOptions(parsed(keys))).not.toThrow();
    const declared = { arrays: ['retry'], keys: ['retry', 'run'] };
    expect(() => refuseRepeatedOptions(parsed({ retry: ['0', '1'] }), declared)).not.toThrow();
    expect(() => refuseRepeatedOptions(parsed({ retry: ['0', '1'] }))).toThrow(/--retry is given more than once/);
  });
});

describe('options the command does not have', () => {
  it("are left to the parser (unknown, or another command's), even given twice", () => {
    const declared = { arrays: [], keys: ['output', 'o'] };
    expect(() => refuseRepeatedOptions(parsed({ outptu: ['a', 'b'] }), declared)).not.toThrow();
    expect(() => refuseRepeatedOptions(parsed({ output: ['a', 'b'] }), declared)).toThrow(/--output/);
  });
});

describe('the command word', () => {
  it('is the first argument after the common options', async () => {
    const { commandWord } = await import('../../src/cli/run.js');
    expect(commandWord(['roles'])).toBe('roles');
    expect(commandWord(['-q', 'roles'])).toBe('roles');
    expect(commandWord(['--log-level', 'warn', '--no-color', 'submit', 'a.csv'])).toBe('submit');
    expect(commandWord(['--log-level=warn', 'node'])).toBe('node');
    expect(commandWord(['-w', '2', 'a.csv'])).toBe('-w');
    expect(commandWord(['-q'])).toBeUndefined();
  });
});
