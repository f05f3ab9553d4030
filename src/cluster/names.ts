/**
 * How a cluster run is named everywhere: the run name is also the PostgreSQL journal's name, its
 * JetStream stream and part of every subject, so it keeps to what all three accept.
 *
 * Subjects: one per shard of the run, `payments.<run>.shard.<n>`. The router already hashes
 * client ids to shards (the single-process layout), so a subject per shard is that layout made
 * visible: a node that owns a shard reads exactly its subject, in order, with a filtered consumer.
 * JetStream's own deterministic partitioning would hash a subject token a second time, to the same
 * effect, and tie the shard count to a server-side mapping an operator must keep in step.
 */
import { nodeIdCharsMax, runNameCharsMax } from '../constants.js';
import { usageError } from '../errors.js';

const runNamePattern = new RegExp(`^[A-Za-z0-9_-]{1,${runNameCharsMax}}$`);

export function checkRunName(run: string): string {
  if (!runNamePattern.test(run))
    throw usageError(
      `--run ${JSON.stringify(run)}: a run name is 1 to ${runNameCharsMax} letters, digits, '_' or '-'`,
      {
        usageHint: true,
      },
    );
  return run;
}

/**
 * A node's id names its control session (`payments node <id>`), which others look up in
 * pg_stat_activity to tell a gone node: PostgreSQL keeps application_name in 63 bytes of printable
 * ASCII (others become `?`), so an id outside that would never match and its node would look gone.
 */
const nodeIdPattern = new RegExp(`^[A-Za-z0-9._-]{1,${nodeIdCharsMax}}$`);

export function checkNodeId(id: string): string {
  if (!nodeIdPattern.test(id))
    throw usageError(
      `--node-id ${JSON.stringify(id)}: a node id is 1 to ${nodeIdCharsMax} letters, digits, '.', '_' or '-'`,
      {
        usageHint: true,
      },
    );
  return id;
}

/** The default node id: host, pid and a random part, cut to what checkNodeId accepts. */
export function defaultNodeId(host: string, pid: number, random: string): string {
  const tail = `-${pid}-${random}`;
  const safeHost = host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, nodeIdCharsMax - tail.length) || 'node';
  return `${safeHost}${tail}`;
}

export const streamOf = (run: string): string => `PAYMENTS_${run}`;
export const subjectsOf = (run: string): string => `payments.${run}.shard.*`;
export const subjectOf = (run: string, shard: number): string => `payments.${run}.shard.${shard}`;
/**
 * JetStream de-duplicates on this id: a re-published batch is stored once. A repair (a submit that
 * republishes a quarantined shard) gives its copies ids of its own (`repair`: the submit's number),
 * else the window would drop the very copies that replace a lost or damaged message.
 * The journal's id (payments.journals.id, new for every journal made) is in it too: a run name
 * used again after its journal was removed, its stream left, must not see its own batches dropped
 * as copies of the earlier run's.
 */
export const batchMsgId = (run: string, journal: number, shard: number, batch: number, repair?: number): string =>
  `${run}.j${journal}.${shard}.${batch}${repair === undefined ? '' : `.r${repair}`}`;
export const endMsgId = (run: string, journal: number, shard: number, repair?: number): string =>
  `${run}.j${journal}.${shard}.end${repair === undefined ? '' : `.r${repair}`}`;

/** Message headers of a batch (and of a shard's end marker). */
export const header = {
  batch: 'Payments-Batch',
  firstLine: 'Payments-First-Line',
  lastLine: 'Payments-Last-Line',
  /**
   * The last line of the shard's batch before this one (0 for its first; on the end marker, its
   * last line): the batches of a shard form a chain, so a node sees at once that one is missing.
   */
  prevLine: 'Payments-Prev-Line',
  /** On the end marker: how many batches the shard has. */
  end: 'Payments-End',
  /** On the end marker: how many rows the shard's batches hold (its journal must then hold as many records). */
  rows: 'Payments-Rows',
  /**
   * The id of the journal the run applies into (payments.journals.id): a message stamped for
   * another journal of the same name (an earlier run, its journal since removed, its stream not)
   * is not a message of this run.
   */
  journal: 'Payments-Journal',
  /** On a batch: the CRC-32 of its rows (the message body before sealing), to compare a copy with. */
  crc: 'Payments-Crc',
} as const;
