/**
 * The audit log in PostgreSQL: schema payments_audit, table log, append-only.
 *   - A trigger refuses UPDATE, DELETE and TRUNCATE for every role, the owner included (dropping the
 *     trigger is DDL, which only the migrator may do, and leaves its own trace in the server's log).
 *   - The same trigger sets `at` (the server's clock) and `db_user` (current_user) on INSERT, so a
 *     writer can neither backdate a record nor name another role.
 *   - Grants (roles.ts) give the node role INSERT alone and the auditor SELECT alone.
 */
import type pg from 'pg';
import { underSchemaLock } from '../journal/postgres/schema.js';

const auditLockKey = 0x61756474; // "audt"
/** Bumped when the DDL below changes (stored as the table's comment). */
const auditSchemaVersion = 'payments_audit 1';
/** SQLSTATE raised on an UPDATE, DELETE or TRUNCATE of the log. */
export const appendOnlySqlState = 'PA001';

const ddl = `
CREATE SCHEMA IF NOT EXISTS payments_audit;
CREATE TABLE IF NOT EXISTS payments_audit.log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  action_id uuid NOT NULL,
  phase text NOT NULL CHECK (phase IN ('started', 'ok', 'failed')),
  action text NOT NULL,
  at timestamptz NOT NULL,
  os_user text NOT NULL,
  db_user text NOT NULL,
  node text,
  args jsonb NOT NULL,
  exit_code integer,
  error text
);
CREATE INDEX IF NOT EXISTS log_at ON payments_audit.log (at);
CREATE OR REPLACE FUNCTION payments_audit.append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.at := now();
    NEW.db_user := current_user;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'payments_audit.log is append-only: % refused', TG_OP USING ERRCODE = '${appendOnlySqlState}';
END
$fn$;
DROP TRIGGER IF EXISTS append_only ON payments_audit.log;
CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE ON payments_audit.log
  FOR EACH ROW EXECUTE FUNCTION payments_audit.append_only();
DROP TRIGGER IF EXISTS append_only_truncate ON payments_audit.log;
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON payments_audit.log
  FOR EACH STATEMENT EXECUTE FUNCTION payments_audit.append_only();
COMMENT ON TABLE payments_audit.log IS '${auditSchemaVersion}';
`;

/** Whether the audit table exists at this program's version. */
async function current(client: pg.Client): Promise<boolean> {
  const r = await client.query(`SELECT obj_description(to_regclass('payments_audit.log'), 'pg_class') AS version`);
  return r.rows[0]?.version === auditSchemaVersion;
}

/** Creates the audit schema once per database (a role without CREATE finds it made by the migrator). */
export async function ensureAuditSchema(client: pg.Client): Promise<void> {
  if (await current(client)) return;
  await underSchemaLock(client, auditLockKey, async () => void ((await current(client)) || (await client.query(ddl))));
}

/** Whether the database holds an audit log at all (for the reader: a foreign database is refused). */
export async function auditLogExists(client: pg.Client): Promise<boolean> {
  return (await client.query(`SELECT to_regclass('payments_audit.log') IS NOT NULL AS ok`)).rows[0].ok as boolean;
}
