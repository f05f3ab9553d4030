/**
 * The durable journal in PostgreSQL, through the CLI as a user runs it, held to the SQLite
 * journal's contract (test/e2e/journal.e2e.test.ts): SIGKILL and resume, a finished journal run
 * again, damaged rows, another input, a newer schema, graceful stop, replay (whole and
 * --as-of-line) and inspect; plus a wrong password and a role without rights. The longer fault
 * runs (random kills, a server restart and terminated backends mid-run, the retry bound) are in
 * test/faults/postgres-journal.faults.test.ts (`npm run test:faults`).
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, expectOneLine, runCli } from '../helpers/cli.js';
import { PostgresCliFixture, runAndSignal, runBlockedAndSignal } from '../helpers/postgres-cli.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

const f = new PostgresCliFixture();
beforeAll(() => f.setUp('e2e', 100_000));
afterAll(() => f.tearDown());

describe('crash and resume', () => {
  it('gives the uninterrupted output after a SIGKILL mid-run, each record once', async () => {
    const killed = await runAndSignal(
      [f.input, '--journal', f.url('crash'), '--quiet'],
      100,
      'SIGKILL',
      f.underWay('crash'),
    );
    expect(killed.signal ?? killed.code).toBeDefined();
    f.expectReference(await f.finish(f.url('crash')));
    await f.expectGapless('crash');
  });

  it('runs a finished journal again without applying anything', async () => {
    const again = await f.finish(f.url('uninterrupted'));
    f.expectReference(again);
    expect(again.stderr).toMatch(/its run had finished; nothing will be applied again/);
  });

  it('takes the URL from PAYMENTS_JOURNAL', async () => {
    const result = await runCli([f.input], { env: { PAYMENTS_JOURNAL: f.url('uninterrupted') } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(f.reference.accounts);
  });
});

describe('a journal that cannot be trusted: exit 2, never used', () => {
  it('a record changed by hand', async () => {
    await f.finish(f.url('damaged'));
    await f.query(
      "UPDATE payments.batches SET data = set_byte(data, 5, get_byte(data, 5) # 1) WHERE journal = 'damaged' AND partition = 1 AND first_seq = 1",
    );
    const result = await runCli([f.input, '--journal', f.url('damaged')]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/partition 1: the journal batch at seq 1 \(lines \d+-\d+\) fails its checksum/);
    const replay = await runCli(['replay', '--journal', f.url('damaged'), '--as-of-line', '10']);
    expect(replay.code).toBe(2);
  });

  it('its shard count edited in the journal row: replay and the run are exit 2, never other balances', async () => {
    await f.finish(f.url('reshard'), ['--workers', '2']);
    for (const [shards, said] of [
      [1, /says 1 shards but holds partition 1 \(its row edited, or damaged\)/],
      [
        3,
        /holds client \d+, which 3 shards route to partition \d: the journal's shard count is not the one it was written with/,
      ],
    ] as const) {
      await f.query("UPDATE payments.journals SET shards = $1 WHERE name = 'reshard'", [shards]);
      for (const args of [
        ['replay', '--journal', f.url('reshard')],
        [f.input, '--journal', f.url('reshard')],
      ])
        expectOneLine(await runCli(args), 2, said);
    }
  });

  it('the same input read with another delimiter (-d): exit 2, the first reading is not kept', async () => {
    // Read with ';', every row is malformed: resuming a ','-journal would keep its balances beside
    // the second reading's rejections.
    const input = join(f.dir, 'delimited.csv');
    writeFileSync(input, 'type,client,tx,amount\ndeposit,1,1,10\nwithdrawal,1,2,3\n');
    const journal = f.url('read-with-comma');
    expect((await runCli([input, '--journal', journal, '-q'])).stdout).toContain('1,7.0000,0.0000,7.0000,false');
    const other = await runCli([input, '--journal', journal, '-d', ';', '-q']);
    expect(other.code).toBe(2);
    expect(other.stdout).toBe('');
    expect(other.stderr).toMatch(
      /written for a different input .*, or for this file read with another delimiter \(-d;/,
    );
    const same = await runCli([input, '--journal', journal, '-d', ',', '-q']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('1,7.0000,0.0000,7.0000,false');
  });

  it('input refused at its first line leaves no journal: the corrected command runs', async () => {
    const input = join(f.dir, 'semicolons.csv');
    writeFileSync(input, 'type;client;tx;amount\ndeposit;1;1;10\nwithdrawal;1;2;3\n');
    const journal = f.url('semicolons');
    const refused = await runCli([input, '--journal', journal, '-q']);
    expect(refused.code).toBe(2);
    expect(errorLine(refused.stderr)).toMatch(/line 1 looks ';'-separated; try --delimiter ';'/);
    expect(await f.query("SELECT 1 FROM payments.journals WHERE name = 'semicolons'")).toEqual([]);
    const corrected = await runCli([input, '--journal', journal, '-d', ';', '-q']);
    expect(corrected.code, corrected.stderr).toBe(0);
    expect(corrected.stdout).toBe('client,available,held,total,locked\n1,7.0000,0.0000,7.0000,false\n');
    // Run again without -d, the journal's input is named as it was at first, not as another file's.
    const again = await runCli([input, '--journal', journal, '-q']);
    expect(again.code).toBe(2);
    expect(errorLine(again.stderr)).toMatch(/line 1 looks ';'-separated; try --delimiter ';'/);
    const badHeader = join(f.dir, 'bad-header.csv');
    writeFileSync(badHeader, 'type,client,transaction,amount\ndeposit,1,1,10\n');
    const badHeaderJournal = f.url('bad-header');
    const noTx = await runCli([badHeader, '--journal', badHeaderJournal, '-q']);
    expect(noTx.code).toBe(2);
    expect(errorLine(noTx.stderr)).toMatch(/the header has no "tx" column/);
    expect(await f.query("SELECT 1 FROM payments.journals WHERE name = 'bad-header'")).toEqual([]);
  });

  it('a journal written for another input', async () => {
    const other = join(f.dir, 'other.csv');
    writeFileSync(other, 'type,client,tx,amount\ndeposit,1,1,1\n');
    const result = await runCli([other, '--journal', f.url('uninterrupted')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/written for a different input/);
  });

  it('a database whose payments schema is newer', async () => {
    const db = await freshDatabase('e2e_newer');
    const url = urlFor(db, { params: { journal: 'j' } });
    const small = join(f.dir, 'small.csv');
    writeFileSync(small, 'type,client,tx,amount\ndeposit,1,1,1\n');
    expect((await runCli([small, '--journal', url, '--quiet'])).code).toBe(0);
    await f.query("INSERT INTO payments.schema_migrations (version, description) VALUES (999, 'future')", [], db);
    for (const args of [
      [small, '--journal', url],
      ['replay', '--journal', url],
      ['inspect', '--journal', url],
    ]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/schema is version 999, newer than this program's/);
    }
  });

  it('a wrong password: exit 2, one line, no password', async () => {
    const secret = 'definitely-wrong-9d1';
    const url = urlFor(f.database, { password: secret, params: { journal: 'pw' } });
    for (const args of [
      [f.input, '--journal', url],
      ['replay', '--journal', url],
    ]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/password authentication failed/);
      expect(result.stderr).not.toContain(secret);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    }
  });

  it('a role without rights: exit 2, saying what it needs', async () => {
    const secret = 'weak-role-pw-e2e';
    await withAdmin(async (c) => {
      await c.query('DROP ROLE IF EXISTS payments_e2e_weak');
      await c.query(`CREATE ROLE payments_e2e_weak LOGIN PASSWORD '${secret}'`);
    });
    const url = urlFor(f.database, { user: 'payments_e2e_weak', password: secret, params: { journal: 'weak' } });
    const result = await runCli([f.input, '--journal', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/permission denied.*a run's role needs CREATE/);
    expect(result.stderr).not.toContain(secret);
  });

  it('a setting the server refuses in the URL: exit 2, one line naming it (no retry helps)', async () => {
    for (const options of ['-c payments_e2e.nothing=1 -c no_such_setting=1', '-c statement_timeout=soon']) {
      const url = urlFor(f.database, { params: { journal: 'opts', options } });
      const result = await runCli([f.input, '--journal', url]);
      expectOneLine(
        result,
        2,
        /the server refused a setting \(.*(no_such_setting|statement_timeout).*\); check the URL's options/,
      );
    }
  });

  it('a URL that is not one (exit 2, before anything is read)', async () => {
    const result = await runCli([f.input, '--journal', 'postgres://u:pw-in-url@host/db?journal=bad name']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/journal name/);
    expect(result.stderr).not.toContain('pw-in-url');
  });
});

describe('graceful stop', () => {
  it('SIGTERM: drains, commits, says how to resume, exits 143; the resumed run is exact', async () => {
    // Commits are held while the signal arrives: a fast run cannot finish before it.
    const stopped = await runBlockedAndSignal(
      [f.input, '--journal', f.url('stop')],
      'SIGTERM',
      f.database,
      f.underWay('stop'),
    );
    expect(stopped.code).toBe(143);
    expect(stopped.stderr).toMatch(/stopped by SIGTERM after line \d+: the journal holds every row up to line \d+/);
    f.expectReference(await f.finish(f.url('stop')));
  });
});

describe('replay and inspect', () => {
  it('replay of the whole journal equals the original output', async () => {
    const replay = await runCli(['replay', '--journal', f.url('uninterrupted')]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(f.reference.accounts);
  });

  it('replay --as-of-line N equals running the engine on the first N lines', async () => {
    const lines = readFileSync(f.input, 'utf8').split('\n');
    for (const n of [1, 777, 60_000]) {
      const prefix = join(f.dir, `prefix-${n}.csv`);
      writeFileSync(prefix, lines.slice(0, n).join('\n') + '\n');
      const engine = await runCli([prefix, '--quiet']);
      const replay = await runCli(['replay', '--journal', f.url('uninterrupted'), '--as-of-line', String(n)]);
      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout, `line ${n}`).toBe(engine.stdout);
    }
  });

  it("inspect --client lists that client's records in input order, as SQL sees them", async () => {
    const result = await runCli(['inspect', '--journal', f.url('uninterrupted'), '--client', '7']);
    expect(result.code, result.stderr).toBe(0);
    const rows = result.stdout.trim().split('\n');
    expect(rows[0]).toBe('partition,seq,line,record,type,client,tx,amount,reason');
    const records = rows.slice(1).map((r) => r.split(','));
    expect(records.length).toBeGreaterThan(10);
    expect(records.every((r) => r[5] === '7')).toBe(true);
    // The auditor's query gives the same records, in the same order, with the same words.
    const sql = await f.query<Record<string, string | null>>(
      "SELECT partition, seq, line, record, type, client, tx, amount::text, reason FROM payments.events WHERE journal = 'uninterrupted' AND client = 7 ORDER BY line",
    );
    expect(sql.map((r) => Object.values(r).map((v) => (v === null ? '' : String(v))))).toEqual(records);
  });
});
