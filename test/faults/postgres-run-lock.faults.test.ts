/**
 * One run per PostgreSQL journal, as for a journal directory: two runs started together on a new
 * journal give one run and one refusal (never two refusals, never two runs), the refusal names the
 * journal as a whole (not a partition), and a run killed with SIGKILL leaves nothing held, so the
 * next run resumes. Readers (replay, inspect) take no lock: they read a journal a run holds. A run
 * that lost its sessions while another took the journal stops as a run that lost its server (exit 1).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli, type CliResult } from '../helpers/cli.js';
import { PostgresCliFixture } from '../helpers/postgres-cli.js';
import { until } from '../helpers/postgres.js';

const f = new PostgresCliFixture();
beforeAll(() => f.setUp('runlock', 100_000));
afterAll(() => f.tearDown());

/** Starts the CLI; `done` resolves when it exits. */
function start(args: string[]) {
  const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const refusedAsWhole = /journal postgres:\/\/\S+ is in use by another run/;

describe('two runs started together on a new journal', () => {
  for (const workers of [1, 4]) {
    it(`at -w ${workers}: one runs to the end, the other is refused (exit 2) by the journal's lock`, async () => {
      for (let pair = 0; pair < 3; pair++) {
        const journal = `pair-w${workers}-${pair}`;
        const args = [f.input, '--journal', f.url(journal), '--workers', String(workers)];
        const both = await Promise.all([runCli(args), runCli(args)]);
        const ran = both.filter((r) => r.code === 0);
        const refused = both.filter((r) => r.code !== 0);
        expect(ran.length, both.map((r) => r.stderr).join('\n')).toBeGreaterThanOrEqual(1);
        for (const r of ran) expect(r.stdout).toBe(f.reference.accounts);
        if (refused.length === 1) {
          expect(refused[0]!.code, refused[0]!.stderr).toBe(2);
          expect(refused[0]!.stderr).toMatch(refusedAsWhole);
          expect(refused[0]!.stderr).not.toMatch(/partition \d+/);
          expect(refused[0]!.stdout).toBe('');
        } else {
          // Both ran: only one after the other, the second finding the first's run finished.
          expect(both.some((r) => /nothing will be applied again/.test(r.stderr))).toBe(true);
        }
        await f.expectGapless(journal);
      }
    });
  }
});

describe('a run that holds a journal', () => {
  it('refuses a second run at once, lets replay and inspect read, and after a SIGKILL the next run resumes', async () => {
    const url = f.url('held');
    const first = start([f.input, '--journal', url, '--workers', '4', '--quiet']);
    await until(async () => first.child.exitCode !== null || (await f.underWay('held')()));
    // Stopped while it holds the journal: its sessions (and locks) stay on the server.
    first.child.kill('SIGSTOP');
    const second = await runCli([f.input, '--journal', url, '--workers', '2', '--quiet']);
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toMatch(refusedAsWhole);
    expect(second.stderr).toMatch(new RegExp(`pid ${first.child.pid}\\b`));
    expect(second.stdout).toBe('');
    // Readers take no lock.
    const replay = await runCli(['replay', '--journal', url]);
    expect(replay.code, replay.stderr).toBe(0);
    const inspect = await runCli(['inspect', '--journal', url, '--client', '7']);
    expect(inspect.code, inspect.stderr).toBe(0);
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    const resumed = await f.finish(url, ['--workers', '4']);
    expect(resumed.stderr).toMatch(/resuming \(every shard has applied its rows up to line \d+\)/);
    f.expectReference(resumed);
    await f.expectGapless('held');
  });
});

describe('a run whose sessions were lost while another run took its journal', () => {
  it('stops with exit 1, as a run that lost its server (not 2, as one refused at its start); the other finishes', async () => {
    const url = f.url('lost');
    const args = [f.input, '--journal', url, '--workers', '2', '--quiet'];
    const first = start(args);
    await until(async () => first.child.exitCode !== null || (await f.underWay('lost')()));
    first.child.kill('SIGSTOP');
    // Its sessions end on the server (as in a restart) while it is stopped.
    await f.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name LIKE 'payments run ${first.child.pid}@%' OR application_name LIKE 'payments lost shard %'`,
    );
    const second = start(args);
    // The second run holds both partitions, then is stopped too, so it holds them while the first comes back.
    await until(async () => {
      const held = await f.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'payments lost shard %'`,
      );
      return second.child.exitCode !== null || held[0]!.n === 2;
    });
    second.child.kill('SIGSTOP');
    first.child.kill('SIGCONT');
    const lost = await first.done;
    expect(lost.code, lost.stderr).toBe(1);
    expect(lost.stderr).toMatch(
      /(another run holds the journal|still held by another session) since this run's connection was lost/,
    );
    expect(lost.stdout).toBe('');
    second.child.kill('SIGCONT');
    const won = await second.done;
    expect(won.code, won.stderr).toBe(0);
    expect(won.stdout).toBe(f.reference.accounts);
    await f.expectGapless('lost');
  });
});
