/**
 * A query the server sends nothing back for during the bound counts as a lost connection (a frozen
 * host, a network dropping every packet), unless the call is one that may rightly be silent for
 * long (a migration waiting for another's lock): RetryingConnection's watchdog, on a real server.
 */
import { describe, expect, it } from 'vitest';
import { RunError } from '../../src/errors.js';
import { RetryingConnection } from '../../src/journal/postgres/connection.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { errorLine, runCli } from '../helpers/cli.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

/** A connection to a fresh database with this retry bound, and the errors its retries were for. */
async function silentTest(database: string, retrySeconds: string) {
  const db = await freshDatabase(database);
  const target = parsePostgresUrl(urlFor(db, { params: { journal: 'silent', retry_seconds: retrySeconds } }));
  const retried: string[] = [];
  const connection = new RetryingConnection(target, 'payments silence test', undefined, (_a, _d, error) =>
    retried.push(String((error as Error).message)),
  );
  return { connection, retried };
}

describe('a query the server is silent on', { timeout: 60_000 }, () => {
  it('is taken for a lost connection after the bound (at least 5 s), named; a call that may be silent is waited for', async () => {
    const { connection, retried } = await silentTest('silence', '0');
    try {
      let tries = 0;
      // Silent for 6 s the first time (past the 5 s floor), at once the second.
      const answer = await connection
        .run('sleeping', async (c, attempt) => {
          tries = attempt + 1;
          return (await c.query(`SELECT pg_sleep(${attempt === 0 ? 6 : 0}), 42 AS n`)).rows[0].n as number;
        })
        .catch((error: unknown) => error);
      // retry_seconds=0 allows no retry: the watchdog's failure is the run's, naming the silence.
      expect(answer).toBeInstanceOf(RunError);
      expect((answer as RunError).message).toMatch(/the server sent nothing for 5 s while a query waited/);
      expect(tries).toBe(1);
      expect(retried).toEqual([]);
      // The same silence on a call that may be silent: waited for.
      const patient = await connection.run(
        'migrating',
        async (c) => (await c.query('SELECT pg_sleep(6), 7 AS n')).rows[0].n,
        {
          patient: true,
        },
      );
      expect(patient).toBe(7);
    } finally {
      await connection.drop();
    }
  });

  it('with room in the bound, the silent query is tried again on a new connection and answers', async () => {
    const { connection, retried } = await silentTest('silence2', '6');
    try {
      const answer = await connection.run(
        'sleeping',
        async (c, attempt) =>
          (await c.query(`SELECT pg_sleep(${attempt === 0 ? 8 : 0}), ${attempt} AS n`)).rows[0].n as number,
      );
      expect(answer).toBe(1);
      expect(retried).toEqual([expect.stringMatching(/the server sent nothing for 6 s while a query waited/)]);
    } finally {
      await connection.drop();
    }
  });

  it('opening a journal is watched but for the migration itself: a look at the schema that gets no answer ends the run (exit 1), not a hang', async () => {
    const db = await freshDatabase('silentopen');
    const url = urlFor(db, { params: { journal: 'open', retry_seconds: '0' } });
    expect((await runCli(['-q', 'data/sample.csv', '--journal', url])).code).toBe(0);
    // The schema's table held by someone else: the run's quick look at its version waits, silent.
    const got = await withAdmin(async (holder) => {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE payments.schema_migrations IN ACCESS EXCLUSIVE MODE');
      try {
        return await runCli(['-q', 'data/sample.csv', '--journal', url.replace('journal=open', 'journal=open2')]);
      } finally {
        await holder.query('ROLLBACK');
      }
    }, db);
    expect(got.code, got.stderr).toBe(1);
    expect(got.stdout).toBe('');
    expect(errorLine(got.stderr)).toMatch(
      /reading the schema version .*the server sent nothing for 5 s while a query waited/,
    );
  });
});
