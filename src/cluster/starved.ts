/**
 * Shards no reading can finish: a published run's shard whose subject holds no end marker of the
 * run past its owner's position (the marker lost from the stream, or a repair killed after its
 * purge). Its owner would wait for ever, and the marker sent again under its own message id is
 * dropped as a copy for the de-duplication window. `submit` quarantines such a shard, fencing its
 * owner, so that it is named, and repaired by a submit like any quarantined shard.
 */
import type { JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { ClusterControl } from './control.js';
import { header, streamOf, subjectOf } from './names.js';
import { isMessageGone } from './nats-errors.js';

const starvedCause =
  'its subject in the stream holds no end marker of the run (lost, or a repair cut short), so no node could finish it';

/** Quarantines the run's starved shards (none while the run is not published whole: its submit sends the markers). */
export async function quarantineStarvedShards(
  options: { run: string; journalId: number; log: Logger },
  jsm: JetStreamManager,
  control: ClusterControl,
): Promise<void> {
  const { run, log } = options;
  const row = await control.readRun(run);
  // Not published whole yet, or published for another journal of the name (the wait names that).
  if (!row?.published || row.journalId !== options.journalId) return;
  // Another submit still publishing (a repair, a stream made again) sends its end markers last.
  if (await control.othersPublishing(run)) return;
  for (const l of await control.leases(run)) {
    if (l.finished || l.quarantined) continue;
    if (await holdsEndMarker(jsm, run, l.shard, l.streamSeq, options.journalId)) continue;
    if (await control.quarantineStarved(run, l.shard, starvedCause))
      log.warn({ shard: l.shard }, `shard ${l.shard}: ${starvedCause}`);
  }
}

/**
 * Whether the shard's subject holds an end marker of this journal at or after `fromSeq` (its
 * owner's position): read forward, one message at a time; a subject holds at most --max-lag.
 */
async function holdsEndMarker(
  jsm: JetStreamManager,
  run: string,
  shard: number,
  fromSeq: number,
  journalId: number,
): Promise<boolean> {
  const subject = subjectOf(run, shard);
  const get = (request: MsgRequest) =>
    jsm.streams.getMessage(streamOf(run), request).catch((error: unknown) => {
      if (isMessageGone(error)) return null;
      throw error;
    });
  const isEnd = (held: StoredMsg) =>
    held.header?.get(header.end) !== undefined &&
    held.header.get(header.end) !== '' &&
    held.header.get(header.journal) === String(journalId);
  // Most often the subject ends with it: one request. Else the messages since the owner's position.
  const last = await get({ last_by_subj: subject });
  if (last === null) return false;
  if (isEnd(last)) return true;
  for (let seq = Math.max(1, fromSeq); seq < last.seq;) {
    const held = await get({ seq, next_by_subj: subject } as unknown as MsgRequest);
    // A server that ignored next_by_subj would answer with another subject's message: the end.
    if (held === null || held.subject !== subject) return false;
    if (isEnd(held)) return true;
    seq = held.seq + 1;
  }
  return false;
}
