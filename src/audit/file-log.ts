/**
 * The audit log of local runs: JSON lines in a file the operator names (--audit-log FILE or
 * PAYMENTS_AUDIT_LOG). Each record is one write(2) on a descriptor opened with O_APPEND, then
 * fsync: concurrent writers never interleave inside a line, and a record is on disk before the
 * action goes on. A crash mid-write can leave the last line torn; the reader skips that one only.
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { describeError, errorCode, usageError } from '../errors.js';
import type { AuditQuery, AuditSink } from './pg-log.js';
import { auditActions, type AuditRecord } from './record.js';

export class FileAuditLog implements AuditSink {
  constructor(readonly path: string) {}

  async append(record: AuditRecord): Promise<void> {
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    } catch (error) {
      throw usageError(`--audit-log ${this.path}: cannot open it for appending (${describeError(error)})`);
    }
    try {
      if (writeSync(fd, line) !== line.length) throw new Error('short write');
      fsyncSync(fd);
    } catch (error) {
      throw usageError(`--audit-log ${this.path}: cannot write the audit record (${describeError(error)})`);
    } finally {
      closeSync(fd);
    }
  }

  async read(query: AuditQuery): Promise<AuditRecord[]> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      const why = errorCode(error) === 'ENOENT' ? 'no such file' : describeError(error);
      throw usageError(`--audit-log ${this.path}: ${why}`);
    }
    const lines = text.split('\n');
    const torn = lines.pop(); // '' after the last newline; otherwise a line a crash cut short
    if (torn !== '' && lines.length === 0) throw notAuditLog(this.path, 1);
    const records = lines.map((line, i) => {
      const record = parseRecord(line);
      if (record === undefined) throw notAuditLog(this.path, i + 1);
      return record;
    });
    return records.filter(
      (r) =>
        (query.since === undefined || Date.parse(r.at) >= query.since.getTime()) &&
        (query.action === undefined || r.action === query.action),
    );
  }

  async close(): Promise<void> {}
}

function notAuditLog(path: string, line: number): Error {
  return usageError(`--audit-log ${path}: line ${line} is not a payments audit record (not an audit log, or damaged)`);
}

function parseRecord(line: string): AuditRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const ok =
    typeof r.actionId === 'string' &&
    ['started', 'ok', 'failed'].includes(r.phase as string) &&
    (auditActions as readonly string[]).includes(r.action as string) &&
    typeof r.at === 'string' &&
    !Number.isNaN(Date.parse(r.at)) &&
    typeof r.osUser === 'string' &&
    Array.isArray(r.args);
  return ok ? (r as unknown as AuditRecord) : undefined;
}
