/**
 * `payments audit --journal postgres://… | --audit-log FILE [--since ISO] [--action X] [--json]`:
 * the audit log of operator actions, oldest first: a table, or one JSON object a line (--json).
 * Exit 2: no source, a SQLite journal (it keeps none), a database or file that holds no audit log,
 * a bad --since or --action.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { isPostgresUrl, redactUrl } from '../../journal/postgres/url.js';
import type { CliIo } from '../io.js';
import type { CommonArgs } from '../options.js';
import type { AuditRecord } from '../../audit/record.js';

interface AuditArgs extends CommonArgs {
  journal?: string;
  auditLog?: string;
  since?: string;
  action?: string;
  json: boolean;
}

export const auditOptionNames = ['journal', 'audit-log', 'since', 'action', 'json'];

export function auditCommand(io: CliIo): CommandModule<object, AuditArgs> {
  return {
    command: 'audit',
    describe: 'Print the audit log of operator actions (PostgreSQL, or a local run’s --audit-log file)',
    builder: (y: Argv) =>
      y
        .option('journal', {
          type: 'string',
          requiresArg: true,
          describe: 'PostgreSQL URL: the log in payments_audit.log',
        })
        .option('audit-log', {
          type: 'string',
          requiresArg: true,
          describe: 'a JSON-lines audit log written by local runs',
        })
        .option('since', { type: 'string', requiresArg: true, describe: 'records at or after this ISO 8601 time' })
        .option('action', { type: 'string', requiresArg: true, describe: 'only this action (submit, result, …)' })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'one JSON object a line',
        }) as unknown as Argv<AuditArgs>,
    handler: async (argv) => {
      const { auditActions } = await import('../../audit/record.js');
      const since = argv.since === undefined ? undefined : sinceOf(argv.since);
      if (argv.action !== undefined && !(auditActions as readonly string[]).includes(argv.action))
        throw usageError(`--action ${argv.action}: one of ${auditActions.join(', ')}`, { usageHint: true });
      const records = await readAudit(argv, { since, action: argv.action });
      await io.stdout(argv.json ? records.map((r) => `${JSON.stringify(r)}\n`).join('') : table(records));
    },
  };
}

async function readAudit(argv: AuditArgs, query: { since?: Date; action?: string }): Promise<AuditRecord[]> {
  if (argv.auditLog !== undefined && argv.journal !== undefined)
    throw usageError('--journal and --audit-log name two logs: give one', { usageHint: true });
  if (argv.auditLog !== undefined) {
    const { FileAuditLog } = await import('../../audit/file-log.js');
    return new FileAuditLog(argv.auditLog).read(query);
  }
  if (argv.journal === undefined)
    throw usageError('audit needs --journal postgres://… or --audit-log FILE', { usageHint: true });
  if (!isPostgresUrl(argv.journal))
    throw usageError(
      `--journal ${redactUrl(argv.journal)}: a SQLite journal keeps no audit log; local runs write theirs with --audit-log FILE (read it with payments audit --audit-log FILE)`,
    );
  const [{ PgAuditLog }, { parsePostgresUrl }] = await Promise.all([
    import('../../audit/pg-log.js'),
    import('../../journal/postgres/url.js'),
  ]);
  const log = new PgAuditLog(parsePostgresUrl(argv.journal));
  try {
    return await log.read(query);
  } finally {
    await log.close();
  }
}

function sinceOf(text: string): Date {
  // A date, or a date and time (with seconds and a zone optional): what an operator types.
  const ok = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text);
  const date = new Date(text.replace(' ', 'T'));
  if (!ok || Number.isNaN(date.getTime()))
    throw usageError(`--since ${text}: not an ISO 8601 date or time (e.g. 2026-12-05 or 2026-12-05T09:00Z)`, {
      usageHint: true,
    });
  return date;
}

const columns = ['at', 'action', 'phase', 'os_user', 'db_user', 'node', 'exit', 'args', 'error'];

/** Aligned columns; the last two (the command line, the error) as they are. */
function table(records: readonly AuditRecord[]): string {
  const rows = records.map((r) => [
    r.at,
    r.action,
    r.phase,
    r.osUser,
    r.dbUser ?? '-',
    r.node ?? '-',
    r.exitCode === undefined ? '-' : String(r.exitCode),
    r.args.join(' '),
    r.error ?? '',
  ]);
  const all = [columns, ...rows];
  const widths = columns.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
