/** Options the cluster commands (node, submit, result) share: where NATS and PostgreSQL are. */
import type { Argv } from 'yargs';
import { usageError } from '../../errors.js';
import { isPostgresUrl, redactUrl } from '../../journal/postgres/url.js';

export interface NatsArgs {
  nats: string;
  natsCreds?: string;
  natsCa?: string;
}

export function withNatsOptions<T>(y: Argv<T>): Argv<T & NatsArgs> {
  return y
    .option('nats', {
      type: 'string',
      requiresArg: true,
      demandOption: true,
      describe: 'NATS server(s): nats://[user:password@]host:4222 or tls://…, comma-separated',
    })
    .option('nats-creds', { type: 'string', requiresArg: true, describe: 'NATS credentials file (JWT and nkey)' })
    .option('nats-ca', {
      type: 'string',
      requiresArg: true,
      describe: 'CA certificate (PEM) that signed the NATS server certificate',
    }) as unknown as Argv<T & NatsArgs>;
}

export function journalOption<T>(y: Argv<T>): Argv<T & { journal: string }> {
  return y.option('journal', {
    type: 'string',
    requiresArg: true,
    demandOption: true,
    describe: 'PostgreSQL URL (postgres://user@host/db): the journal and the shard leases',
  }) as unknown as Argv<T & { journal: string }>;
}

export function checkPostgresJournal(journal: string): string {
  if (!isPostgresUrl(journal))
    throw usageError(`--journal ${redactUrl(journal)}: the cluster needs a PostgreSQL URL (postgres://…)`, {
      usageHint: true,
    });
  return journal;
}
