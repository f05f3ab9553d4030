/** Packaging and first run: what `npm pack` ships, and `npm start` printing only the accounts. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

describe('npm pack', () => {
  it('ships the built code without source maps, the docs, README, LICENSE and package.json only', () => {
    // --ignore-scripts: no rebuild of dist/ while other tests run it.
    const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    const files = (JSON.parse(result.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli/bin.js', 'docs/contract.md']),
    );
    for (const file of files) {
      expect(file, file).toMatch(
        /^(LICENSE|README\.md|package\.json|dist\/.*\.js|dist\/cli\/help\/[a-z]+\.txt|docs\/.*\.md)$/,
      );
    }
  });
  it('states the real Node.js floor', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('^20.19.0 || ^22.12.0 || >=23');
  });
});

describe('first run', () => {
  it('npm start -- FILE prints exactly the accounts CSV on standard output', () => {
    const result = spawnSync('npm', ['start', '--', 'data/sample.csv', '--quiet'], { cwd: repoRoot, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8'));
  });
});
