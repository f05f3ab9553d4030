/**
 * pg loaded through src/journal/postgres/pg.ts does not load Node's bundled fetch (undici): that
 * module is part of every shard thread's start, and nothing of the product uses it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `specifier` in a fresh process: whether undici got loaded, and navigator's userAgent. */
function load(specifier: string): { undici: boolean; userAgent: unknown } {
  const script = `await import(${JSON.stringify(specifier)});
    console.log(JSON.stringify({ undici: process.moduleLoadList.some((m) => m.includes('undici')), userAgent: globalThis.navigator?.userAgent }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out) as { undici: boolean; userAgent: unknown };
}

describe('pg runtime', () => {
  it('pg through pg.ts leaves undici unloaded, and navigator is what newer Node defines', () => {
    const wrapped = load('./dist/journal/postgres/pg.js');
    expect(wrapped.undici).toBe(false);
    expect(wrapped.userAgent).toMatch(/^Node\.js\/\d+/);
  });

  it('pg imported directly loads undici on Node without navigator (what pg.ts avoids)', () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(load('pg').undici).toBe(major < 21);
  });
});
