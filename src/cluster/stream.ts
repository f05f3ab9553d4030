/** A run's JetStream stream, from submit's side: created, trimmed to what owners have not committed, deleted. */
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type MsgRequest,
} from '@nats-io/jetstream';
import type { Logger } from 'pino';
import {
  lagRetryDelayMaxMs,
  streamCheckEveryMs,
  streamDuplicateWindowNs,
  streamTrimEveryMs,
  waitLogEveryMs,
} from '../constants.js';
import { describeError, runFailure, type RunError } from '../errors.js';
import type { ClusterControl } from './control.js';
import type { LeaseRow } from './leases.js';
import { header, streamOf, subjectOf, subjectsOf } from './names.js';
import { isMessageGone, isStreamNameInUse, isStreamNotFound } from './nats-errors.js';
import { isServerLost } from '../journal/postgres/connection.js';

/** Removes a finished run's stream (its journal keeps everything `result` and a second submit need). */
export async function deleteStream(jsm: JetStreamManager, run: string, log: Logger): Promise<void> {
  try {
    await jsm.streams.delete(streamOf(run));
    log.info({ stream: streamOf(run) }, 'stream deleted (--delete-stream)');
  } catch (error) {
    if (!isStreamNotFound(error)) throw runFailure(`nats: deleting stream ${streamOf(run)}: ${describeError(error)}`);
  }
}

/**
 * Empties the stream of an earlier run of this name, whose journal is gone (a new journal was just
 * made): its messages are of another journal and would never be applied, yet fill the subjects up
 * to --max-lag, where this run's could not be stored. Only on evidence of such a run: its control
 * rows were there (`earlierRun`), or a subject's last message is stamped with another journal's id.
 * Not when a submit of this very journal has begun publishing there meanwhile, and not for messages
 * stamped by nothing (they are dead letters, read once and passed over).
 */
export async function purgeEarlierRun(
  jsm: JetStreamManager,
  run: string,
  target: { readonly journal: number; readonly shards: number; readonly earlierRun: boolean },
  log: Logger,
): Promise<void> {
  try {
    let earlier = target.earlierRun;
    for (let shard = 0; shard < target.shards; shard++) {
      const last = await jsm.streams
        .getMessage(streamOf(run), { last_by_subj: subjectOf(run, shard) })
        .catch((error: unknown) => {
          if (isMessageGone(error)) return null;
          throw error;
        });
      const stamp = last?.header?.get(header.journal) || undefined;
      if (stamp === String(target.journal)) return; // a submit of this very journal has begun
      if (stamp !== undefined) earlier = true;
    }
    if (!earlier) return;
    const purged = await jsm.streams.purge(streamOf(run));
    if (purged.purged > 0)
      log.warn(
        { stream: streamOf(run), messages: purged.purged },
        "purged an earlier run's messages (its journal was removed, its stream was not)",
      );
  } catch (error) {
    if (!isStreamNotFound(error)) throw runFailure(`nats: purging stream ${streamOf(run)}: ${describeError(error)}`);
  }
}

/**
 * Creates the run's stream, unless it exists (its --max-lag then stays). Returns when the stream
 * was created: a stream made again after it was deleted numbers its messages anew, so a position
 * in the old one means nothing in it (submit then has the run's shards read it from its start).
 */
export async function ensureStream(jsm: JetStreamManager, run: string, maxLag: number, log: Logger): Promise<string> {
  const name = streamOf(run);
  try {
    const info = await jsm.streams.info(name);
    const limit = info.config.max_msgs_per_subject;
    if (limit !== maxLag)
      log.info({ stream: name, maxLag: limit > 0 ? limit : 'none' }, 'the run’s stream exists: its --max-lag stays');
    return info.created;
  } catch (error) {
    if (!isStreamNotFound(error)) throw runFailure(`nats: stream ${name}: ${describeError(error)}`);
  }
  try {
    const info = await jsm.streams.add({
      name,
      subjects: [subjectsOf(run)],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: streamDuplicateWindowNs,
      max_msgs_per_subject: maxLag,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    });
    return info.created;
  } catch (error) {
    // Another submit of the same run created it first: fine.
    if (!isStreamNameInUse(error)) throw runFailure(`nats: creating stream ${name}: ${describeError(error)}`);
  }
  return jsm.streams.info(name).then(
    (info) => info.created,
    (error: unknown) => {
      throw runFailure(`nats: stream ${name}: ${describeError(error)}`);
    },
  );
}

/** The run's quarantined shards as submit's failure (exit 1), naming each and why; undefined when none is. */
export function quarantineFailure(run: string, leases: readonly LeaseRow[]): RunError | undefined {
  const quarantined = leases.filter((l) => l.quarantined && !l.finished);
  if (quarantined.length === 0) return undefined;
  return runFailure(
    `run ${run}: ${quarantined.map((l) => `shard ${l.shard} quarantined: ${l.cause}`).join('; ')} (payments shards --run ${run} shows its dead letters)`,
  );
}

/**
 * Keeps each shard's subject down to what its owner has not committed yet, so that the per-subject
 * limit measures lag: deletes the messages this submit stored (their sequence numbers come back in
 * the PubAcks, duplicates included) below the lease's stream hint (a new owner resumes at the hint,
 * so that message is kept), and every one of a finished shard. A subject refused as full is also
 * scanned: the stream is asked what it holds below the hint (the first message on it from a
 * sequence, then the next), which finds what the list cannot, a deletion a killed server lost or a
 * message stored by an earlier submit of the run. Scanning only then: each answer carries the whole
 * message. Messages are deleted one by one rather than purged by subject: a subject purge also
 * moves the server's consumers of that subject forward, and a consumer must only ever be moved by
 * what it reads. Runs every streamTrimEveryMs while publishing, and at once when a publish is
 * refused. A failure is left to the next pass (NATS or PostgreSQL restarting shows up in the
 * publishes themselves).
 */
export class SubjectTrimmer {
  /** Shards quarantined, as of the last pass: publishing stops (a retry cannot help them). */
  quarantined: RunError | undefined;
  /** The run's stream was made again (by another submit) since this one adopted it: publishing stops. */
  replaced: RunError | undefined;
  /** The control plane's server was lost for its whole retry bound: publishing stops (nothing can be trimmed). */
  controlLost: RunError | undefined;
  /** The creation time of the stream this submit publishes to. */
  private streamCreated: string | undefined;
  /** When checkStream last asked (performance.now()). */
  streamCheckedAt = 0;
  /** Per shard: sequence numbers of its stored messages not deleted yet, in order. */
  private readonly inStream: number[][];
  /** Shards whose subject was refused as full since it was last scanned. */
  private readonly toScan = new Set<number>();
  private trimming: Promise<void> | undefined;
  private lastTrimMs = 0;
  private readonly reported = new Map<string, number>();
  waitedMs = 0;

  constructor(
    private readonly control: ClusterControl,
    private readonly jsm: JetStreamManager,
    private readonly run: string,
    shards: number,
    private readonly log: Logger,
  ) {
    this.inStream = Array.from({ length: shards }, () => []);
  }

  /** Runs `work` with a trim every streamTrimEveryMs beside it. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => void this.trim(), streamTrimEveryMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      await this.trimming;
    }
  }

  /** The stream this submit publishes to, by its creation time (ensureStream). */
  adopt(created: string): void {
    this.streamCreated = created;
  }

  /**
   * Whether the run's stream is still the one adopted. One deleted and made again by another submit
   * numbers its messages anew and is that submit's to fill: a message this one put there would come
   * before the batches its shards are read from again, and look like a batch missing. A stream
   * that is gone is left to the nodes (they quarantine its shards); a NATS that does not answer, to
   * the publishes. Called before a publish is tried again, and at each pass.
   */
  async checkStream(): Promise<RunError | undefined> {
    if (this.replaced || this.streamCreated === undefined) return this.replaced;
    this.streamCheckedAt = performance.now();
    const stream = streamOf(this.run);
    const created = await this.jsm.streams.info(stream).then(
      (info) => info.created,
      () => undefined,
    );
    if (created !== undefined && created !== this.streamCreated)
      this.replaced = runFailure(
        `run ${this.run}: its stream ${stream} was deleted while this submit published, and made again by another submit, which publishes the run now; this one stops (run the same submit again if that one fails)`,
      );
    return this.replaced;
  }

  /** A message of `shard` is in the stream at `seq` (a PubAck, or a duplicate's). */
  stored(shard: number, seq: number): void {
    const seqs = this.inStream[shard]!;
    if (seqs[seqs.length - 1] !== seq) seqs.push(seq);
  }

  /** A publish to `shard`'s subject was refused (full): trim now (at most once per pass), log now and then. */
  async refused(shard: number, subject: string, attempt: number, waitingMs: number): Promise<void> {
    this.toScan.add(shard);
    const last = this.reported.get(subject) ?? -Infinity;
    if (performance.now() - last >= waitLogEveryMs) {
      this.reported.set(subject, performance.now());
      this.log.info(
        { subject, waitingMs: Math.round(waitingMs), attempt },
        'shard lags: its subject is full (--max-lag); waiting for its owner to commit',
      );
    }
    if (performance.now() - this.lastTrimMs >= lagRetryDelayMaxMs / 4) await this.trim();
  }

  waited(subject: string, ms: number): void {
    this.waitedMs += ms;
    this.reported.delete(subject);
  }

  trim(): Promise<void> {
    this.trimming ??= this.trimOnce().finally(() => (this.trimming = undefined));
    return this.trimming;
  }

  private async trimOnce(): Promise<void> {
    this.lastTrimMs = performance.now();
    try {
      const stream = streamOf(this.run);
      if (await this.checkStream()) return;
      const leases = await this.control.leases(this.run);
      this.quarantined = quarantineFailure(this.run, leases);
      // The hints just read, and the sequence numbers below, are of the stream checked: checked again
      // after the read, so that none is applied to a stream made again meanwhile.
      if (await this.checkStream()) return;
      for (const lease of leases) {
        const seqs = this.inStream[lease.shard]!;
        const below = lease.finished ? Infinity : lease.streamSeq;
        while (seqs.length > 0 && seqs[0]! < below) {
          await this.delete(stream, seqs[0]!);
          seqs.shift();
        }
        if (this.toScan.delete(lease.shard)) await this.deleteHeldBelow(stream, lease.shard, below);
      }
    } catch (error) {
      if (isServerLost(error)) this.controlLost = error;
      this.log.debug({ err: describeError(error) }, 'trimming the stream failed; next pass');
    }
  }

  /** Deletes whatever the shard's subject holds below `below`, as the stream says. */
  private async deleteHeldBelow(stream: string, shard: number, below: number): Promise<void> {
    const subject = subjectOf(this.run, shard);
    for (let seq = 1; seq < below;) {
      const held = await this.jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
      // A server that ignored next_by_subj would answer with another subject's message: never delete that.
      if (held === null || held.seq >= below || held.subject !== subject) return;
      await this.delete(stream, held.seq);
      seq = held.seq + 1;
    }
  }

  private async delete(stream: string, seq: number): Promise<void> {
    // A long pass checks again as it goes: a sequence number of the stream adopted, deleted from
    // one made again, would take another submit's batch or end marker.
    if (performance.now() - this.streamCheckedAt > streamCheckEveryMs && (await this.checkStream()))
      throw this.replaced;
    await this.jsm.streams.deleteMessage(stream, seq, false).catch((error: unknown) => {
      if (!isMessageGone(error)) throw error;
    });
  }
}
