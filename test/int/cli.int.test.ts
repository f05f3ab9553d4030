/**
 * `run(argv, io)` in-process on every fixture case: the same bytes as the spawned CLI gives, with
 * no process per case. The built module is used, because shard workers load dist/pool/worker.js.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: compiled output, typed by its source
import { run as runBuilt } from '../../dist/cli/run.js';
import type { CliIo } from '../../src/cli/io.js';
import type { run as Run } from '../../src/cli/run.js';
import { errorLine, repoRoot } from '../helpers/cli.js';

const run = runBuilt as typeof Run;
const tmp = mkdtempSync(join(tmpdir(), 'payments-cli-int-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: async (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    stderrIsTty: false,
    stdinIsTty: false,
  };
  return { io, out: () => out, err: () => err };
}

const fixtureDirs = ['test/fixtures/spec-examples', 'test/fixtures/cases'].map((d) => join(repoRoot, d));
const cases = fixtureDirs.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.expected.csv'))
    .map((f) => ({ dir, name: f.replace(/\.expected\.csv$/, '') })),
);

describe('run(argv, io) on the fixture cases', () => {
  for (const { dir, name } of cases) {
    it(`${name}, 2 workers, with and without a journal (and a resumed journal)`, async () => {
      const input = join(dir, `${name}.csv`);
      const expected = readFileSync(join(dir, `${name}.expected.csv`), 'utf8');
      const expectedRejects = readFileSync(join(dir, `${name}.rejects.csv`), 'utf8');
      const journal = join(tmp, `${name}.journal`);
      for (const extra of [[], ['--journal', journal], ['--journal', journal]]) {
        const rejects = join(tmp, `${name}.rejects.csv`);
        const { io, out, err } = capture();
        const code = await run([input, '--workers', '2', '--rejects', rejects, '--quiet', ...extra], io);
        expect(err()).toBe('');
        expect(code).toBe(0);
        expect(out()).toBe(expected);
        expect(readFileSync(rejects, 'utf8')).toBe(expectedRejects);
      }
    });
  }

  it('a journal in use is exit 2 with one line, in-process too', async () => {
    const { io, err } = capture();
    const journal = join(tmp, 'busy.journal');
    const { JournalLock } = await import('../../src/journal/lock.js');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(journal, { recursive: true });
    const held = JournalLock.acquire(journal);
    try {
      const code = await run([join(repoRoot, 'data/sample.csv'), '--journal', journal, '--quiet'], io);
      expect(code).toBe(2);
      expect(errorLine(err())).toBe(`payments: journal ${journal} is in use by pid ${process.pid}`);
    } finally {
      held.release();
    }
  });
});
