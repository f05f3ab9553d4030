/**
 * One audit record: who did what, when, and how it ended. An action writes `started` before it acts
 * (a crash then still leaves the fact that it began), and `ok` or `failed` when it ends; the two
 * share `actionId`. Node events (join, leave, a shard taken from another node) are one `ok` record.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { RunError, describeError } from '../errors.js';
import { redactArgs, redactText } from './redact.js';

export const auditActions = [
  'migrate',
  'run',
  'submit',
  'delete-stream',
  'result',
  'shards-retry',
  'convert',
  'reseal',
  'node-join',
  'node-leave',
  'shard-handoff',
] as const;
export type AuditAction = (typeof auditActions)[number];
export type AuditPhase = 'started' | 'ok' | 'failed';

export interface AuditRecord {
  readonly actionId: string;
  readonly phase: AuditPhase;
  readonly action: AuditAction;
  /** ISO 8601; in PostgreSQL the server's clock sets it (the client's value is ignored). */
  readonly at: string;
  readonly osUser: string;
  /** The PostgreSQL role (current_user); set by the server, absent in a local file. */
  readonly dbUser?: string;
  readonly node?: string;
  /** The command line, secrets redacted. */
  readonly args: readonly string[];
  readonly exitCode?: number;
  /** One line, secrets redacted. */
  readonly error?: string;
}

/** Longest error text kept: the first line of a message is what an auditor reads. */
const errorCharsMax = 500;

/** The OS user running this process; a uid without a passwd entry (containers) is named by number. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

export function startedRecord(action: AuditAction, args: readonly string[], node?: string): AuditRecord {
  return {
    actionId: randomUUID(),
    phase: 'started',
    action,
    at: new Date().toISOString(),
    osUser: osUser(),
    ...(node === undefined ? {} : { node }),
    args: redactArgs(args),
  };
}

/** The outcome of a started action: ok (exit 0) or failed with its exit code and one-line error. */
export function outcomeRecord(started: AuditRecord, error?: unknown): AuditRecord {
  const base = { ...started, at: new Date().toISOString() };
  if (error === undefined) return { ...base, phase: 'ok', exitCode: 0 };
  const exitCode = error instanceof RunError ? error.exitCode : 1;
  const text = redactText(describeError(error)).replace(/\s*\n\s*/g, ' ');
  return { ...base, phase: 'failed', exitCode, error: text.slice(0, errorCharsMax) };
}

/** A node event: one record, already done. */
export function nodeEventRecord(action: AuditAction, node: string, args: readonly string[]): AuditRecord {
  return { ...startedRecord(action, args, node), phase: 'ok' };
}
