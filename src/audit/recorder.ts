/**
 * Runs an operator action between its audit records: `started` first (if that cannot be written the
 * action does not run: an action nobody can account for is refused), then `ok` or `failed` with the
 * exit code and the error's first line. A failure to write the outcome does not hide the action's
 * own error; the `started` record is there either way.
 */
import { stdinArgument } from './redact.js';
import type { AuditSink } from './pg-log.js';
import { outcomeRecord, startedRecord, type AuditAction } from './record.js';
import { isPostgresUrl, parsePostgresUrl } from '../journal/postgres/url.js';

/**
 * The audit log of a command: a file when one is named, else the PostgreSQL journal's database.
 * Loaded on demand: a run without either never loads the PostgreSQL driver for it.
 */
export async function auditSinkFor(
  journal: string | undefined,
  file: string | undefined,
): Promise<AuditSink | undefined> {
  if (file !== undefined && file !== '') return new (await import('./file-log.js')).FileAuditLog(file);
  if (journal !== undefined && isPostgresUrl(journal))
    return new (await import('./pg-log.js')).PgAuditLog(parsePostgresUrl(journal));
  return undefined;
}

export async function audited<T>(
  sinkOrPromise: AuditSink | undefined | Promise<AuditSink | undefined>,
  action: AuditAction,
  args: readonly string[],
  body: () => Promise<T>,
): Promise<T> {
  const sink = await sinkOrPromise;
  if (sink === undefined) return body();
  const started = startedRecord(action, args.map(stdinArgument));
  try {
    await sink.append(started);
  } catch (error) {
    await sink.close();
    throw error;
  }
  try {
    const result = await body();
    await sink.append(outcomeRecord(started));
    return result;
  } catch (error) {
    await sink.append(outcomeRecord(started, error)).catch(() => undefined);
    throw error;
  } finally {
    await sink.close();
  }
}
