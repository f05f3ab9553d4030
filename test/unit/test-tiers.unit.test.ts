/**
 * Every test file sits in the folder of its tier and is named `<name>.<tier>.test.ts`: the vitest
 * projects select files by that pattern, so a file named otherwise would silently never run.
 */
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';

const testDir = resolve(import.meta.dirname, '..');
const tiers = ['unit', 'property', 'int', 'e2e', 'hostile', 'cluster', 'faults'];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [relative(testDir, join(dir, entry.name))],
  );
}

it('names every test file <name>.<tier>.test.ts inside test/<tier>/', () => {
  const all = files(testDir).filter((f) => !f.startsWith('fixtures/') && !f.startsWith('helpers/'));
  const misplaced = all.filter((f) => {
    const match = /^(\w+)\/[\w.-]+\.(\w+)\.test\.ts$/.exec(f);
    return f !== 'tsconfig.json' && !(match && match[1] === match[2] && tiers.includes(match[1]!));
  });
  expect(all.length).toBeGreaterThan(30);
  expect(misplaced).toEqual([]);
});
