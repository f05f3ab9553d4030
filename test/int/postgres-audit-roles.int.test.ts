/**
 * The three PostgreSQL roles and the audit log's table, against a real server: the migrator creates
 * the schemas (`payments migrate`) and applies `payments roles`' script; the node role runs a
 * journaled run and appends audit records but cannot change or remove them, run DDL, or end other
 * sessions; the auditor reads payments.events and the audit log and writes nothing. The log is
 * append-only for the owner and a superuser too (its trigger).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: compiled output, typed by its source
import { run as runBuilt } from '../../dist/cli/run.js';
import { PgAuditLog } from '../../src/audit/pg-log.js';
import { startedRecord } from '../../src/audit/record.js';
import { grantScript } from '../../src/audit/roles.js';
import type { CliIo } from '../../src/cli/io.js';
import type { run as Run } from '../../src/cli/run.js';
import { errorCode } from '../../src/errors.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { repoRoot } from '../helpers/cli.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

const run = runBuilt as typeof Run;
const suffix = `${process.pid}`;
const roles = { migrator: `pay_mig_${suffix}`, node: `pay_node_${suffix}`, auditor: `pay_aud_${suffix}` };
const passwords = { migrator: 'mig-pw-a1', node: 'node-pw-b2', auditor: 'aud-pw-c3' };
let database = '';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: async (text) => void (out += text),
    stderr: (text) => void (err += text),
    stderrIsTty: false,
    stdinIsTty: false,
  };
  return { io, out: () => out, err: () => err };
}

const urlOf = (who: keyof typeof roles, journal = 'audit-roles') =>
  urlFor(database, { user: roles[who], password: passwords[who], params: { journal } });

async function as<T>(who: keyof typeof roles, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor(database, { user: roles[who], password: passwords[who] }) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with (undefined when it succeeds). */
async function failsWith(c: pg.Client, sql: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await c.query(sql, params);
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}

beforeAll(async () => {
  database = await freshDatabase('audit_roles');
  await withAdmin(async (c) => {
    for (const who of ['migrator', 'node', 'auditor'] as const)
      await c.query(`CREATE ROLE ${roles[who]} LOGIN PASSWORD '${passwords[who]}'`);
  });
  await withAdmin((c) => c.query(`GRANT CREATE ON DATABASE ${database} TO ${roles.migrator}`), database);
});

afterAll(async () => {
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    for (const who of ['migrator', 'node', 'auditor'] as const) await c.query(`DROP ROLE IF EXISTS ${roles[who]}`);
  });
});

describe('three roles', () => {
  it('the node role cannot create the schemas: migrate refuses it (exit 2)', async () => {
    const { io, err } = capture();
    expect(await run(['migrate', '--journal', urlOf('node')], io)).toBe(2);
    expect(err()).toMatch(/permission denied/);
    expect(err()).not.toContain(passwords.node);
  });

  it('the migrator creates the schemas (twice: the second finds them current) and applies the grants', async () => {
    for (let i = 0; i < 2; i++) {
      const { io, err } = capture();
      expect(await run(['migrate', '--journal', urlOf('migrator')], io), err()).toBe(0);
    }
    const owners = await as('migrator', async (c) =>
      (
        await c.query(
          `SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname LIKE 'payments%' ORDER BY 1`,
        )
      ).rows.map((r) => `${r.nspname}:${r.owner}`),
    );
    expect(owners).toEqual(['payments', 'payments_audit', 'payments_cluster'].map((s) => `${s}:${roles.migrator}`));
    const { io, out } = capture();
    expect(
      await run(['roles', '--migrator', roles.migrator, '--node', roles.node, '--auditor', roles.auditor], io),
    ).toBe(0);
    expect(out()).toBe(grantScript(roles));
    await as('migrator', (c) => c.query(out()));
    await as('migrator', (c) => c.query(out())); // idempotent
  });

  it('the node role runs a journaled run and appends audit records', async () => {
    const input = join(repoRoot, 'data/sample.csv');
    const { io, out, err } = capture();
    expect(await run([input, '--journal', urlOf('node', 'node-run'), '--quiet'], io), err()).toBe(0);
    expect(out()).toBe(readFileSync(join(repoRoot, 'data/sample.expected.csv'), 'utf8'));
    const log = new PgAuditLog(parsePostgresUrl(urlOf('node')));
    await log.append(startedRecord('submit', ['submit', '--journal', urlOf('node')]));
    await log.close();
    // A forged time or role is overwritten by the server.
    await as('node', (c) =>
      c.query(
        `INSERT INTO payments_audit.log (action_id, phase, action, at, os_user, db_user, args)
         VALUES (gen_random_uuid(), 'ok', 'result', '2000-01-01', 'x', 'someone_else', '[]')`,
      ),
    );
    const rows = await withAdmin(
      async (c) => (await c.query('SELECT action, at, db_user, args::text FROM payments_audit.log ORDER BY id')).rows,
      database,
    );
    const mine = rows.filter((r) => r.db_user === roles.node);
    expect(mine.map((r) => r.action)).toEqual(['submit', 'result']);
    expect(mine.every((r) => (r.at as Date).getFullYear() >= 2024)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(passwords.node);
  });

  it('the node role cannot change or remove audit records, run DDL, or end other sessions', async () => {
    await as('node', async (c) => {
      expect(await failsWith(c, 'UPDATE payments_audit.log SET error = $1', ['x'])).toBe('42501');
      expect(await failsWith(c, 'DELETE FROM payments_audit.log')).toBe('42501');
      expect(await failsWith(c, 'TRUNCATE payments_audit.log')).toBe('42501');
      expect(await failsWith(c, 'SELECT * FROM payments_audit.log')).toBe('42501');
      expect(await failsWith(c, 'DROP TABLE payments.batches')).toBe('42501');
      expect(await failsWith(c, 'DROP TABLE payments_audit.log')).toBe('42501');
      expect(await failsWith(c, 'DROP TRIGGER append_only ON payments_audit.log')).toBe('42501');
      expect(await failsWith(c, 'CREATE TABLE payments.x (a int)')).toBe('42501');
      expect(await failsWith(c, 'CREATE TABLE payments_cluster.x (a int)')).toBe('42501');
      expect(await failsWith(c, 'CREATE TABLE public.x (a int)')).toBe('42501');
      expect(await failsWith(c, 'ALTER TABLE payments_cluster.leases ADD COLUMN y int')).toBe('42501');
      expect((await c.query(`SELECT pg_has_role(current_user, 'pg_signal_backend', 'member') AS m`)).rows[0].m).toBe(
        false,
      );
    });
    await as('migrator', async (m) => {
      const pid = (await m.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await as('node', async (c) => {
        expect(await failsWith(c, 'SELECT pg_terminate_backend($1)', [pid])).toBe('42501');
      });
    });
  });

  it('nodes logging in as roles of their own (members of the node role) cannot end each other’s sessions', async () => {
    const members = [`${roles.node}_a`, `${roles.node}_b`];
    await withAdmin(async (c) => {
      for (const m of members) await c.query(`CREATE ROLE ${m} LOGIN PASSWORD 'member-pw' IN ROLE ${roles.node}`);
    });
    const connect = async (user: string) => {
      const client = new pg.Client({ connectionString: urlFor(database, { user, password: 'member-pw' }) });
      client.on('error', () => undefined); // the one whose session is ended below
      await client.connect();
      return client;
    };
    const [a, b, a2] = [await connect(members[0]!), await connect(members[1]!), await connect(members[0]!)];
    try {
      const pidOf = async (c: pg.Client) => (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      // A member has the node role's rights…
      await a.query(`SELECT count(*) FROM payments_cluster.leases`);
      // …but not the other member's: pg_terminate_backend of its session is refused.
      expect(await failsWith(a, 'SELECT pg_terminate_backend($1)', [await pidOf(b)])).toBe('42501');
      // One shared login role could (a role may end its own sessions): hence a role per node.
      expect((await a.query('SELECT pg_terminate_backend($1) AS ok', [await pidOf(a2)])).rows[0].ok).toBe(true);
    } finally {
      for (const c of [a, b, a2]) await c.end().catch(() => undefined);
      await withAdmin(async (c) => {
        for (const m of members) await c.query(`DROP ROLE IF EXISTS ${m}`);
      });
    }
  });

  it('the log is append-only for its owner and a superuser too', async () => {
    for (const client of [
      (fn: (c: pg.Client) => Promise<void>) => as('migrator', fn),
      (fn: (c: pg.Client) => Promise<void>) => withAdmin(fn, database),
    ]) {
      await client(async (c) => {
        expect(await failsWith(c, `UPDATE payments_audit.log SET error = 'edited'`)).toBe('PA001');
        expect(await failsWith(c, 'DELETE FROM payments_audit.log')).toBe('PA001');
        expect(await failsWith(c, 'TRUNCATE payments_audit.log')).toBe('PA001');
      });
    }
    const count = await withAdmin(
      async (c) => (await c.query('SELECT count(*)::int AS n FROM payments_audit.log')).rows[0].n,
      database,
    );
    expect(count).toBeGreaterThanOrEqual(4);
  });

  it('the auditor reads events and the audit log, and writes nothing', async () => {
    await as('auditor', async (c) => {
      const events = await c.query(`SELECT count(*)::int AS n FROM payments.events WHERE journal = 'node-run'`);
      expect(events.rows[0].n).toBeGreaterThan(0);
      expect((await c.query('SELECT count(*)::int AS n FROM payments_audit.log')).rows[0].n).toBeGreaterThan(0);
      expect(await failsWith(c, 'SELECT * FROM payments.batches')).toBe('42501');
      expect(await failsWith(c, 'SELECT * FROM payments_cluster.leases')).toBe('42501');
      expect(
        await failsWith(
          c,
          `INSERT INTO payments_audit.log (action_id, phase, action, at, os_user, db_user, args)
           VALUES (gen_random_uuid(), 'ok', 'result', now(), 'x', 'y', '[]')`,
        ),
      ).toBe('42501');
      expect(await failsWith(c, `INSERT INTO payments.journals (name) VALUES ('x')`)).toBe('42501');
      expect(await failsWith(c, 'CREATE TABLE public.x (a int)')).toBe('42501');
      expect(await failsWith(c, 'DELETE FROM payments_audit.log')).toBe('42501');
    });
    const { io, out, err } = capture();
    expect(await run(['audit', '--journal', urlOf('auditor'), '--json'], io), err()).toBe(0);
    const records = out()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => r.action)).toContain('migrate');
    expect(records.find((r) => r.action === 'migrate').dbUser).toBe(roles.migrator);
    // The auditor's own run is refused: it may not write its journal.
    const denied = capture();
    expect(await run([join(repoRoot, 'data/sample.csv'), '--journal', urlOf('auditor', 'aud-run')], denied.io)).toBe(2);
  });
});
