/** Appending to and reading the PostgreSQL audit log (pg-schema.ts), on a connection of its own. */
import { RetryingConnection } from '../journal/postgres/connection.js';
import type { PostgresTarget } from '../journal/postgres/url.js';
import { usageError } from '../errors.js';
import { auditLogExists, ensureAuditSchema } from './pg-schema.js';
import type { AuditRecord, AuditPhase, AuditAction } from './record.js';

export interface AuditSink {
  append(record: AuditRecord): Promise<void>;
  close(): Promise<void>;
}

export interface AuditQuery {
  /** Records at or after this instant. */
  readonly since?: Date;
  readonly action?: string;
}

export class PgAuditLog implements AuditSink {
  private readonly connection: RetryingConnection;
  private ready = false;

  constructor(readonly target: PostgresTarget) {
    this.connection = new RetryingConnection(target, 'payments audit');
  }

  async append(record: AuditRecord): Promise<void> {
    await this.connection.run('writing the audit log', async (c) => {
      if (!this.ready) await ensureAuditSchema(c);
      this.ready = true;
      // `at` and `db_user` are set by the table's trigger (the server's clock, current_user).
      await c.query(
        `INSERT INTO payments_audit.log (action_id, phase, action, at, os_user, db_user, node, args, exit_code, error)
         VALUES ($1, $2, $3, now(), $4, current_user, $5, $6, $7, $8)`,
        [
          record.actionId,
          record.phase,
          record.action,
          record.osUser,
          record.node ?? null,
          JSON.stringify(record.args),
          record.exitCode ?? null,
          record.error ?? null,
        ],
      );
    });
  }

  async read(query: AuditQuery): Promise<AuditRecord[]> {
    return this.connection.run('reading the audit log', async (c) => {
      if (!(await auditLogExists(c)))
        throw usageError(`journal ${this.target.display}: no audit log there (schema payments_audit is missing)`);
      const r = await c.query(
        `SELECT action_id, phase, action, at, os_user, db_user, node, args, exit_code, error FROM payments_audit.log
          WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR action = $2)
          ORDER BY id`,
        [query.since?.toISOString() ?? null, query.action ?? null],
      );
      return r.rows.map((row) => ({
        actionId: row.action_id as string,
        phase: row.phase as AuditPhase,
        action: row.action as AuditAction,
        at: (row.at as Date).toISOString(),
        osUser: row.os_user as string,
        dbUser: row.db_user as string,
        ...(row.node === null ? {} : { node: row.node as string }),
        args: row.args as string[],
        ...(row.exit_code === null ? {} : { exitCode: row.exit_code as number }),
        ...(row.error === null ? {} : { error: row.error as string }),
      }));
    });
  }

  close(): Promise<void> {
    return this.connection.drop();
  }
}
