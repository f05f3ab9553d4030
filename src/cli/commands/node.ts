/** `payments node --nats URL --journal postgres://… [--http PORT]`: a long-running cluster member. */
import type { Argv, CommandModule } from 'yargs';
import { leaseMsDefault, leaseMsMax, leaseMsMin } from '../../constants.js';
import { createLogger } from '../../ops/logger.js';
import type { CliIo } from '../io.js';
import { logConfigOf, readNumber, type CommonArgs } from '../options.js';
import { checkPostgresJournal, journalOption, withNatsOptions, type NatsArgs } from './cluster-options.js';
import { checkNodeId } from '../../cluster/names.js';

interface NodeArgs extends CommonArgs, NatsArgs {
  journal: string;
  http?: string;
  leaseMs: string | number;
  nodeId?: string;
}

export function nodeCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, NodeArgs> {
  return {
    command: 'node',
    describe: 'Join the cluster: own shards of submitted runs and apply their batches (runs until stopped)',
    builder: (y: Argv) =>
      journalOption(withNatsOptions(y))
        .option('http', {
          type: 'string',
          requiresArg: true,
          describe: 'serve /healthz, /readyz and /metrics on this port',
        })
        .option('lease-ms', {
          type: 'string',
          requiresArg: true,
          default: leaseMsDefault,
          describe: `shard lease in milliseconds: a dead node’s shards move after about this long (default ${leaseMsDefault})`,
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
  const http =
    argv.http === undefined
      ? undefined
      : readNumber(argv.http, { option: 'http', min: 0, max: 65535, integer: true, example: '--http 9464' }, rawArgv);
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
      nats: { url: argv.nats, credsFile: argv.natsCreds, caFile: argv.natsCa },
      journalUrl,
      http,
      leaseMs,
      id: argv.nodeId === undefined ? undefined : checkNodeId(argv.nodeId),
      log,
      logConfig,
      signal: controller.signal,
    });
    await node.run();
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
