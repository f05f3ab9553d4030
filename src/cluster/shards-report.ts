/**
 * `payments shards`: a run's shards as the control plane sees them (state, owner, failures, cause)
 * and its dead letters, as CSV sections; and an operator's retry of quarantined shards.
 */
import { csvField } from '../io/csv-writer.js';
import { usageError } from '../errors.js';
import { parsePostgresUrl, redactUrl } from '../journal/postgres/url.js';
import { ClusterControl } from './control.js';
import type { LeaseRow } from './leases.js';
import { fencedJournalUrl } from './schema.js';

/** A shard's state in a word: finished, quarantined, running (a live owner), retrying (waiting out a backoff), waiting. */
export function shardState(l: LeaseRow): string {
  if (l.finished) return 'finished';
  if (l.quarantined) return 'quarantined';
  if (l.live) return 'running';
  return l.failures > 0 ? 'retrying' : 'waiting';
}

const csvLine = (fields: readonly (string | number | null | undefined)[]): string =>
  fields.map((f) => csvField(f === null || f === undefined ? '' : String(f))).join(',') + '\n';

/** The report; `retry` (shard numbers, or 'all') lifts those quarantines first. */
export async function shardsReport(journalUrl: string, run: string, retry: readonly number[] | 'all' | undefined) {
  const control = new ClusterControl(
    parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)),
    `payments shards ${run}`,
  );
  try {
    await control.setup();
    const leases = await control.leases(run);
    if (leases.length === 0) throw usageError(`run ${run}: not found in ${redactUrl(journalUrl)}`);
    const lifted = retry === undefined ? [] : await retryShards(control, run, leases, retry);
    const now = await control.leases(run);
    let text = csvLine(['shard', 'state', 'node', 'generation', 'failures', 'cause']);
    for (const l of now) text += csvLine([l.shard, shardState(l), l.node, l.generation, l.failures, l.cause]);
    text += '\n' + csvLine(['shard', 'stream_seq', 'batch', 'reason', 'detail', 'node', 'at', 'headers']);
    for (const d of await control.deadLetters(run))
      text += csvLine([
        d.shard,
        d.streamSeq,
        d.batch,
        d.reason,
        d.detail,
        d.node,
        d.at.toISOString(),
        JSON.stringify(d.headers),
      ]);
    return { text, lifted };
  } finally {
    await control.close();
  }
}

/** Lifts the quarantine of the shards named (a shard not quarantined is exit 2: nothing to retry). */
async function retryShards(
  control: ClusterControl,
  run: string,
  leases: readonly LeaseRow[],
  retry: readonly number[] | 'all',
): Promise<number[]> {
  const wanted = retry === 'all' ? leases.filter((l) => l.quarantined).map((l) => l.shard) : retry;
  for (const shard of wanted) {
    const lease = leases.find((l) => l.shard === shard);
    if (lease === undefined) throw usageError(`--retry ${shard}: run ${run} has shards 0 to ${leases.length - 1}`);
    if (!lease.quarantined)
      throw usageError(`--retry ${shard}: shard ${shard} of run ${run} is ${shardState(lease)}, not quarantined`);
  }
  if (wanted.length === 0) throw usageError(`--retry all: no shard of run ${run} is quarantined`);
  return control.lift(run, wanted);
}

/** Each shard's state in a word and its owner (submit's report). */
export async function shardStates(journalUrl: string, run: string) {
  const control = new ClusterControl(
    parsePostgresUrl(fencedJournalUrl(journalUrl, run, undefined)),
    `payments submit ${run}`,
  );
  try {
    return (await control.leases(run)).map((l) => ({ shard: l.shard, state: shardState(l), node: l.node }));
  } finally {
    await control.close();
  }
}
