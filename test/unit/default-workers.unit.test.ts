/** The default worker count: the main thread keeps a core of its own for parsing. */
import { describe, expect, it } from 'vitest';
import { defaultWorkers } from '../../src/cli/commands/process.js';
import { workersMax } from '../../src/constants.js';

describe('default workers', () => {
  it('is the cores less one, at least one, at most the limit', () => {
    expect(defaultWorkers(1)).toBe(1);
    expect(defaultWorkers(2)).toBe(1);
    expect(defaultWorkers(3)).toBe(2);
    expect(defaultWorkers(8)).toBe(7);
    expect(defaultWorkers(workersMax + 10)).toBe(workersMax);
  });
});
