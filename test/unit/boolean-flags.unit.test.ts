/** On/off options on the command line are read as in the environment: true/false/1/0, or exit 2. */
import { describe, expect, it } from 'vitest';
import { normaliseBooleanFlags } from '../../src/cli/options.js';

const options = ['quiet', 'progress', 'rejects', 'workers'];
const booleans = ['quiet', 'progress', 'color'];
const normalise = (...argv: string[]) => normaliseBooleanFlags(argv, options, booleans);

describe('normaliseBooleanFlags', () => {
  it('spells 1/0/TRUE/False as true/false, and --no-X=V as --X=not V', () => {
    expect(normalise('--quiet=1', '--progress=False')).toEqual(['--quiet=true', '--progress=false']);
    expect(normalise('--no-progress=1', '--no-quiet=0')).toEqual(['--progress=false', '--quiet=true']);
    expect(normalise('--quiet= true ')).toEqual(['--quiet=true']);
  });
  it('leaves alone what is not an on/off option of the command, and plain flags', () => {
    const argv = ['in.csv', '--quiet', '--no-progress', '--workers=2', '--rejects=r.csv', '--color=1', '-q'];
    expect(normalise(...argv)).toEqual(argv);
  });
  it('refuses any other value, and --no-X of an option that takes one', () => {
    expect(() => normalise('--quiet=yes')).toThrow(/^--quiet=yes: --quiet must be true or false \(or 1 \/ 0\)$/);
    expect(() => normalise('--quiet=')).toThrow(/--quiet must be true or false/);
    expect(() => normalise('--no-rejects')).toThrow(
      /^--no-rejects: --rejects takes a value; it has no --no-rejects form$/,
    );
    expect(() => normalise('--no-workers=3')).toThrow(/--workers takes a value/);
  });
});
