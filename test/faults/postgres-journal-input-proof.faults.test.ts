/**
 * A resumed run over a PostgreSQL journal proves that the input it skips is the input the journal
 * applied (test/helpers/input-proof-cases.ts); a journal written before batches stored input proofs
 * is read but never resumed, and a database at schema version 1 is brought to version 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrations, schemaVersion } from '../../src/journal/postgres/schema.js';
import { errorLine, runCli } from '../helpers/cli.js';
import { registerInputProofTests } from '../helpers/input-proof-cases.js';
import { freshDatabase, terminateBackends, urlFor, withAdmin } from '../helpers/postgres.js';

let database = '';
const dir = mkdtempSync(join(tmpdir(), 'payments-pg-proof-'));
beforeAll(async () => {
  database = await freshDatabase('proof');
});
afterAll(async () => {
  await terminateBackends('payments %', database);
  rmSync(dir, { recursive: true, force: true });
});

const query = async <T = Record<string, unknown>>(sql: string, params: unknown[] = [], db = database) =>
  withAdmin(async (c) => (await c.query(sql, params)).rows as T[], db);

registerInputProofTests({
  location: (name) => urlFor(database, { params: { journal: name } }),
  proofEnds: async (name) =>
    (
      await query<{ end: string }>(
        'SELECT input_end AS end FROM payments.batches WHERE journal = $1 AND partition = 0 ORDER BY first_seq',
        [name],
      )
    ).map((r) => Number(r.end)),
  truncate: async (name, end) => {
    await query('DELETE FROM payments.batches WHERE journal = $1 AND input_end > $2', [name, end]);
    await query('DELETE FROM payments.snapshot_parts WHERE journal = $1', [name]);
    await query('DELETE FROM payments.snapshots WHERE journal = $1', [name]);
    await query('UPDATE payments.journals SET complete = false, committed_line = 0 WHERE name = $1', [name]);
  },
  state: async (name) =>
    JSON.stringify([
      await query(
        'SELECT partition, count(*)::int AS n, max(first_seq + count - 1)::int AS seq FROM payments.batches WHERE journal = $1 GROUP BY partition ORDER BY partition',
        [name],
      ),
      await query('SELECT sum(length(data))::int AS bytes, sum(crc) AS crcs FROM payments.batches WHERE journal = $1', [
        name,
      ]),
      await query('SELECT committed_line, complete, updated_at FROM payments.journals WHERE name = $1', [name]),
    ]),
});

describe('journals from before input proofs', () => {
  const small = join(dir, 'small.csv');
  writeFileSync(small, 'type,client,tx,amount\ndeposit,1,1,1\ndeposit,2,2,2.5\n');

  it('a journal with a batch stored without its proof (converted from format 1) is refused for a resume (exit 2, one line), still replayed', async () => {
    const url = urlFor(database, { params: { journal: 'format1' } });
    expect((await runCli([small, '--journal', url, '--quiet'])).code).toBe(0);
    await query("UPDATE payments.batches SET input_end = NULL, input_crc = NULL WHERE journal = 'format1'");
    const result = await runCli([small, '--journal', url]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(errorLine(result.stderr)).toMatch(
      /has batches stored without an input checksum \(written by an older version, or by a cluster\), so it cannot be resumed; replay and inspect still read it; name a new journal/,
    );
    const replay = await runCli(['replay', '--journal', url]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('2,2.5');
  });

  it('a database at schema version 1 is migrated to the current one, and its new journals store proofs', async () => {
    const db = await freshDatabase('proof_v1');
    const client = new pg.Client({ connectionString: urlFor(db) });
    await client.connect();
    try {
      await migrate(client, db, migrations.slice(0, 1));
    } finally {
      await client.end();
    }
    expect((await query('SELECT max(version) AS v FROM payments.schema_migrations', [], db))[0]).toEqual({ v: 1 });
    const url = urlFor(db, { params: { journal: 'j' } });
    const result = await runCli([small, '--journal', url, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    expect((await query('SELECT max(version) AS v FROM payments.schema_migrations', [], db))[0]).toEqual({
      v: schemaVersion,
    });
    const proofs = await query<{ end: string }>('SELECT input_end AS end FROM payments.batches', [], db);
    expect(proofs.map((p) => Number(p.end))).toEqual(
      proofs.map(() => Buffer.byteLength('type,client,tx,amount\ndeposit,1,1,1\ndeposit,2,2,2.5\n')),
    );
    await terminateBackends('payments %', db);
  });
});
