/** `payments node --nats URL --journal postgres://… [--http PORT]`: a long-running cluster member. */
import type { Argv, CommandModule } from 'yargs';
import { expireSecondsDefault, leaseMsDefault, leaseMsMax, leaseMsMin, shardThreadsMax } from '../../constants.js';
import { defaultShardThreads } from '../../cluster/shard-threads.js';
import { createLogger } from '../../ops/logger.js';
import type { CliIo } from '../io.js';
import { logConfigOf, readNumber, type CommonArgs } from '../options.js';
import {
  checkPostgresJournal,
  journalOption,
  natsSettingsOf,
  withNatsOptions,
  type NatsArgs,
} from './cluster-options.js';
import { readSecretFile } from '../secret-file.js';
import { journalKeysOf, withJournalKeyOption, type JournalKeyArgs } from '../journal-keys.js';
import { checkNodeId } from '../../cluster/names.js';

interface NodeArgs extends CommonArgs, NatsArgs, JournalKeyArgs {
  journal: string;
  http?: string;
  httpBind: string;
  httpTokenFile?: string;
  expireSeconds: string | number;
  leaseMs: string | number;
  threads: string | number;
  nodeId?: string;
}

export function nodeCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, NodeArgs> {
  return {
    command: 'node',
    describe: 'Join the cluster: own shards of submitted runs and apply their batches (runs until stopped)',
    builder: (y: Argv) =>
      withJournalKeyOption(journalOption(withNatsOptions(y)))
        .option('http', {
          type: 'string',
          requiresArg: true,
          describe: 'serve /healthz, /readyz and /metrics on this port',
        })
        .option('http-bind', {
          type: 'string',
          requiresArg: true,
          default: '0.0.0.0',
          describe: 'address the HTTP endpoints listen on (127.0.0.1: this host only)',
        })
        .option('http-token-file', {
          type: 'string',
          requiresArg: true,
          describe: 'file holding a bearer token that /readyz and /metrics then require',
        })
        .option('expire-seconds', {
          type: 'string',
          requiresArg: true,
          default: expireSecondsDefault,
          describe: `finished and abandoned runs, and dead nodes, are deleted after this long (default ${expireSecondsDefault}: a week)`,
        })
        .option('lease-ms', {
          type: 'string',
          requiresArg: true,
          default: leaseMsDefault,
          describe: `shard lease in milliseconds: a dead node’s shards move after about this long (default ${leaseMsDefault})`,
        })
        .option('threads', {
          type: 'string',
          requiresArg: true,
          default: defaultShardThreads(),
          defaultDescription: 'cores',
          describe: `shard threads, 1 to ${shardThreadsMax}, started with the node; the shards it runs share them (default: one a core)`,
        })
        .option('node-id', {
          type: 'string',
          requiresArg: true,
          describe: 'name of this node (default host-pid-random)',
        }) as unknown as Argv<NodeArgs>,
    handler: (argv) => runNode(io, rawArgv, argv),
  };
}

/** Checks the options, then runs the node until SIGINT or SIGTERM (it then gives its shards back). */
async function runNode(io: CliIo, rawArgv: readonly string[], argv: NodeArgs): Promise<void> {
  const journalUrl = checkPostgresJournal(argv.journal);
  const keys = journalKeysOf(argv.journalKeyFile); // a sealed run's shards need its key (else quarantined)
  const http =
    argv.http === undefined
      ? undefined
      : readNumber(argv.http, { option: 'http', min: 0, max: 65535, integer: true, example: '--http 9464' }, rawArgv);
  const expireSeconds = readNumber(
    argv.expireSeconds,
    { option: 'expire-seconds', min: 1, max: 10 * 365 * 86400, integer: true, example: '--expire-seconds 86400' },
    rawArgv,
  );
  const leaseMs = readNumber(
    argv.leaseMs,
    {
      option: 'lease-ms',
      min: leaseMsMin,
      max: leaseMsMax,
      integer: true,
      example: `--lease-ms ${leaseMsDefault}`,
    },
    rawArgv,
  );
  const threads = readNumber(
    argv.threads,
    { option: 'threads', min: 1, max: shardThreadsMax, integer: true, example: '--threads 2' },
    rawArgv,
  );
  const logConfig = logConfigOf(argv, rawArgv, io.stderrIsTty);
  const log = createLogger(logConfig, { role: 'node' });
  const { ClusterNode } = await import('../../cluster/node.js');
  const controller = new AbortController();
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping: giving shards back');
    controller.abort();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    const node = new ClusterNode({
      nats: natsSettingsOf(argv),
      journalUrl,
      http: http === undefined ? undefined : { port: http, host: argv.httpBind, token: readToken(argv.httpTokenFile) },
      leaseMs,
      threads,
      expireMs: expireSeconds * 1000,
      id: argv.nodeId === undefined ? undefined : checkNodeId(argv.nodeId),
      log,
      logConfig,
      signal: controller.signal,
      commandLine: rawArgv,
      keys,
    });
    await node.run();
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/** The bearer token in a file (its first line; never an argument, which `ps` shows). */
function readToken(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readSecretFile('http-token-file', file);
}
