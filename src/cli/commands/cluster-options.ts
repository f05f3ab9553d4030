/** Options the cluster commands (node, submit, result) share: where NATS and PostgreSQL are. */
import { accessSync, constants } from 'node:fs';
import type { Argv } from 'yargs';
import { checkNatsSettings, type NatsSettings } from '../../cluster/nats.js';
import { describeError, usageError } from '../../errors.js';
import { readSecretFile } from '../secret-file.js';
import { isPostgresUrl, redactUrl } from '../../journal/postgres/url.js';

export interface NatsArgs {
  nats: string;
  natsCreds?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
  natsPasswordFile?: string;
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
    })
    .option('nats-cert', {
      type: 'string',
      requiresArg: true,
      describe: 'client certificate (PEM) for a NATS server that verifies clients (mutual TLS); with --nats-key',
    })
    .option('nats-key', { type: 'string', requiresArg: true, describe: 'private key (PEM) of --nats-cert' })
    .option('nats-password-file', {
      type: 'string',
      requiresArg: true,
      describe: "file holding the NATS password of the URL's user (nats://user@host): never in the URL",
    }) as unknown as Argv<T & NatsArgs>;
}

/** The NATS connection settings of the cluster options: files checked here, one line naming the option when not. */
export function natsSettingsOf(argv: NatsArgs): Omit<NatsSettings, 'name'> {
  if ((argv.natsCert === undefined) !== (argv.natsKey === undefined))
    throw usageError('--nats-cert and --nats-key go together (a client certificate and its key)', { usageHint: true });
  for (const [option, file] of [
    ['nats-ca', argv.natsCa],
    ['nats-cert', argv.natsCert],
    ['nats-key', argv.natsKey],
  ] as const)
    if (file !== undefined) readableOrExit(option, file);
  const settings = {
    url: argv.nats,
    credsFile: argv.natsCreds,
    caFile: argv.natsCa,
    certFile: argv.natsCert,
    keyFile: argv.natsKey,
    password:
      argv.natsPasswordFile === undefined ? undefined : readSecretFile('nats-password-file', argv.natsPasswordFile),
  };
  checkNatsSettings({ ...settings, name: 'check' });
  return settings;
}

function readableOrExit(option: string, file: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    throw usageError(`--${option} ${file}: ${describeError(error)}`);
  }
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
