/** Submit's publishing: each shard's messages published in order, with backpressure (jetstream-sink.ts feeds them). */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { crc32 } from 'node:zlib';
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { backoffMs } from '../resilience.js';
import {
  lagRetryDelayFirstMs,
  lagRetryDelayMaxMs,
  publishesPendingMax,
  publishRetryDelayFirstMs,
  publishRetryDelayMaxMs,
  publishRetryMs,
  publishTimeoutMs,
  streamCheckEveryMs,
} from '../constants.js';
import { describeError, RunError, runFailure, usageError } from '../errors.js';
import type { DelimiterChoice } from '../io/delimiter.js';
import { activeCarrier, startSpan, type SpanHandle, type TraceCarrier } from '../ops/tracing.js';
import type { ClusterControl } from './control.js';
import { batchMsgId, endMsgId, header, streamOf, subjectOf } from './names.js';
import { isMessageGone, isNatsAuthError, isSubjectFull } from './nats-errors.js';
import type { SubjectTrimmer } from './stream.js';
import type { WirePiece } from './wire.js';
import type { MessageSealer } from './message-seal.js';

/** What is published, and how it is read. */
export interface PublishRequest {
  readonly input: string;
  readonly run: string;
  /** The field delimiter, and whether the user chose it (else line 1 is checked for another). */
  readonly delimiter: DelimiterChoice;
  readonly log: Logger;
  /** Date.now() past which a publish refused for lag is not retried (submit's --deadline). */
  readonly deadlineAt: number;
  /** The CRC-32 of the whole input as this submit read it first (its fingerprint, checked against the journal's). */
  readonly inputCrc?: number;
}

/**
 * Shards being repaired (they were quarantined: their subjects were purged): only the batches their
 * journal lacks are published, under message ids of this submit (`submit`: its number).
 */
export interface Repair {
  readonly submit: number;
  /** Shard → the last line its journal holds. */
  readonly committed: ReadonlyMap<number, number>;
}

/** Where to: the run's stream (through `js`), its shard count, its trimmer and its control plane. */
export interface PublishTarget {
  readonly js: JetStreamClient;
  /** The server's max_payload. */
  readonly maxPayload: number;
  readonly shards: number;
  /** The id of the run's journal (payments.journals.id): stamped on every message, part of its id. */
  readonly journal: number;
  readonly trimmer: SubjectTrimmer;
  readonly control: ClusterControl;
  readonly repair?: Repair;
  /** A sealed run's: seals every message body (message-seal.ts). */
  readonly seal?: MessageSealer;
}

export interface Published {
  /** Per shard: how many batches it was sent, and the last line of the last one. */
  readonly batches: number[];
  readonly lastLines: number[];
  readonly rowsRead: number;
}

/** A run read with another delimiter than the one it was submitted with (exit 2). */
export function delimiterMismatch(run: string, recorded: string, why = '') {
  const name = recorded === '\t' ? 'tab' : `'${recorded}'`;
  return usageError(
    `run ${run} was submitted with --delimiter ${name}${why}; submit it with the same delimiter, or under another --run`,
  );
}

/**
 * Each shard's batches published in order (one once the previous one's PubAck came back), shards
 * concurrently, with at most publishesPendingMax publishes waiting in all.
 */
export class ShardPublisher {
  readonly batches: number[];
  readonly lastLines: number[];
  private readonly rows: number[];
  private readonly tails: Promise<void>[];
  private readonly waiting: Promise<void>[] = [];
  private failure: unknown;
  /** While tracing is on: each shard's publishing span, and its context that every message carries. */
  private readonly spans: (SpanHandle | undefined)[] = [];
  private readonly carriers: (TraceCarrier | undefined)[] = [];
  private readonly parent = activeCarrier();
  private readonly js: JetStreamClient;
  private readonly trimmer: SubjectTrimmer;
  private readonly log: Logger;
  private readonly deadlineAt: number;
  private readonly seal: MessageSealer | undefined;
  private readonly journal: number;
  private readonly control: ClusterControl;
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    target: PublishTarget,
    private readonly run: string,
    request: PublishRequest,
    private readonly repair: Repair | undefined,
  ) {
    const { shards } = target;
    this.js = target.js;
    this.trimmer = target.trimmer;
    this.log = request.log;
    this.deadlineAt = request.deadlineAt;
    this.seal = target.seal;
    this.journal = target.journal;
    this.control = target.control;
    this.batches = new Array<number>(shards).fill(0);
    this.lastLines = new Array<number>(shards).fill(0);
    this.rows = new Array<number>(shards).fill(0);
    this.tails = new Array<Promise<void>>(shards).fill(Promise.resolve());
  }

  /** Publishes a piece of `shard` once its previous one is stored. */
  send(shard: number, piece: WirePiece): void {
    const k = this.batches[shard]!++;
    const prevLine = this.lastLines[shard]!;
    this.lastLines[shard] = piece.lastLine;
    this.rows[shard]! += piece.count;
    const repairing = this.repair?.committed.get(shard);
    if (repairing !== undefined && piece.lastLine <= repairing) return; // its journal holds it
    const h = headers();
    this.traceHeaders(shard, h);
    h.set(header.journal, String(this.journal));
    h.set(header.batch, String(k));
    h.set(header.prevLine, String(prevLine));
    h.set(header.firstLine, String(piece.firstLine));
    h.set(header.lastLine, String(piece.lastLine));
    const crc = crc32(piece.data);
    h.set(header.crc, String(crc));
    const id = batchMsgId(this.run, this.journal, shard, k, this.repairOf(shard));
    const sameAsStored = (seq: number) => this.sameAsStored(shard, k, seq, crc);
    const sent = this.tails[shard]!.then(() => this.publish(shard, piece.data, id, h, sameAsStored));
    sent.catch((error: unknown) => (this.failure ??= error));
    this.tails[shard] = sent;
    this.waiting.push(sent);
  }

  /** Waits while too many publishes are pending (the reader stops: backpressure); throws the first failure. */
  async throttle(): Promise<void> {
    while (this.waiting.length >= publishesPendingMax) await this.waiting.shift()!.catch(() => undefined);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Once every batch is stored: each shard's end marker, with its batch count, last line and rows. */
  async end(): Promise<void> {
    await Promise.all(this.tails);
    for (let shard = 0; shard < this.batches.length; shard++) {
      const h = headers();
      this.traceHeaders(shard, h);
      h.set(header.journal, String(this.journal));
      h.set(header.end, String(this.batches[shard]));
      h.set(header.lastLine, String(this.lastLines[shard]));
      h.set(header.prevLine, String(this.lastLines[shard]));
      h.set(header.rows, String(this.rows[shard]));
      await this.publish(shard, new Uint8Array(0), endMsgId(this.run, this.journal, shard, this.repairOf(shard)), h);
      this.spans[shard]?.setAttributes({
        'payments.batches': this.batches[shard]!,
        'payments.rows': this.rows[shard]!,
      });
      this.spans[shard]?.end();
      this.spans[shard] = undefined;
    }
  }

  /** The W3C context of the shard's publish span, in the message's headers (a node's spans continue the trace). */
  private traceHeaders(shard: number, h: MsgHdrs): void {
    if (this.parent === undefined) return; // tracing off
    if (this.carriers[shard] === undefined) {
      const span = startSpan('payments.publish', { 'payments.run': this.run, 'payments.shard': shard }, this.parent);
      this.spans[shard] = span;
      this.carriers[shard] = span?.carrier();
    }
    const carrier = this.carriers[shard];
    if (carrier === undefined) return;
    h.set('traceparent', carrier.traceparent);
    if (carrier.tracestate) h.set('tracestate', carrier.tracestate);
  }

  /** The submit's number, for a shard being repaired (its copies get ids of their own). */
  private repairOf(shard: number): number | undefined {
    return this.repair?.committed.has(shard) ? this.repair.submit : undefined;
  }

  /** Resolves once no publish is in flight (whatever their outcome). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.waiting);
    for (const span of this.spans) span?.end(this.failure ?? new Error('publishing stopped')); // unended: failed
  }

  /**
   * A batch this submit sent was a copy of one the stream holds (de-duplicated by its id): the stored
   * one must hold the same rows. Other rows mean that an earlier submit of the run read the file
   * while it changed, and stopped before its end, where it would have found that out: the run's
   * batches are then of no one file, and it gives no accounts. A stored batch gone (applied and
   * deleted), or stamped by an earlier release (no CRC), is not checked.
   */
  private async sameAsStored(shard: number, batch: number, seq: number, crc: number): Promise<void> {
    // Kept once made; a failure to make it is not kept (the next copy asks again).
    this.jsm ??= this.js.jetstreamManager().catch((error: unknown) => {
      this.jsm = undefined;
      throw error;
    });
    const jsm = await this.jsm;
    const stored = await jsm.streams.getMessage(streamOf(this.run), { seq }).catch((error: unknown) => {
      if (isMessageGone(error)) return null;
      throw error;
    });
    const theirs = stored?.header?.get(header.crc);
    if (!theirs || theirs === String(crc)) return;
    await this.control.markInputChanged(this.run);
    throw runFailure(
      `run ${this.run}: batch ${batch} of shard ${shard} is in its stream with other rows than this file gives: an earlier submit of the run read the file while it was being changed, and stopped before it could tell; the run gives no accounts: submit the file under a new --run`,
    );
  }

  private publish(
    shard: number,
    plain: Uint8Array,
    msgID: string,
    h: MsgHdrs,
    sameAsStored?: (seq: number) => Promise<void>,
  ): Promise<void> {
    // Sealed here, once per message, after its headers are set (they are its associated data).
    const data = this.seal === undefined ? plain : this.seal(shard, h, plain);
    return publishOne(
      this.js,
      { shard, subject: subjectOf(this.run, shard), data, msgID, headers: h, sameAsStored },
      this.log,
      this.trimmer,
      this.deadlineAt,
    );
  }
}

interface Message {
  readonly shard: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgID: string;
  readonly headers: MsgHdrs;
  /** A batch's: called when the server says it holds a copy already (at that sequence number). */
  readonly sameAsStored?: (seq: number) => Promise<void>;
}

/**
 * Publishes until the server stores it (a PubAck): a lost connection is retried for publishRetryMs;
 * a refusal because the shard lags (its subject is full) is retried, same id, until it is accepted.
 */
async function publishOne(
  js: JetStreamClient,
  m: Message,
  log: Logger,
  trimmer: SubjectTrimmer,
  deadlineAt: number,
): Promise<void> {
  const { shard, subject } = m;
  let started = Date.now();
  let lagging = 0;
  for (let attempt = 0; ; attempt++) {
    if (trimmer.controlLost) throw trimmer.controlLost;
    // Tried again, or not checked for a while: not into a stream another submit has made again
    // since (SubjectTrimmer.checkStream).
    if (attempt > 0 || trimmer.replaced || performance.now() - trimmer.streamCheckedAt > streamCheckEveryMs) {
      const replaced = await trimmer.checkStream();
      if (replaced) throw replaced;
    }
    try {
      const ack = await js.publish(subject, m.data, { msgID: m.msgID, headers: m.headers, timeout: publishTimeoutMs });
      // Before the trimmer knows the sequence number, so that it cannot delete the copy first.
      if (ack.duplicate && m.sameAsStored) await m.sameAsStored(ack.seq);
      trimmer.stored(shard, ack.seq);
      if (lagging > 0) trimmer.waited(subject, performance.now() - lagging);
      return;
    } catch (error) {
      if (error instanceof RunError) throw error; // the copy check's verdict: not a publish to retry
      // A shard quarantined meanwhile (its stream deleted, a batch missing): waiting cannot help.
      if (trimmer.quarantined) throw trimmer.quarantined;
      if (isSubjectFull(error)) {
        lagging ||= performance.now();
        if (Date.now() > deadlineAt)
          throw runFailure(
            `shard ${shard}: its subject ${subject} is full (--max-lag) and its owner did not catch up before the --deadline; see \`payments shards\``,
          );
        await trimmer.refused(shard, subject, attempt, performance.now() - lagging);
        // No jitter: one submit waits for its own lagging shard, there is no crowd to spread.
        await sleep(backoffMs(attempt, { firstMs: lagRetryDelayFirstMs, maxMs: lagRetryDelayMaxMs }, false));
        started = Date.now(); // the server is there: the connection bound starts again
        continue;
      }
      const said = describeError(error);
      if (isNatsAuthError(error)) throw usageError(`nats: publishing to ${subject} refused (${said})`);
      if (Date.now() - started > publishRetryMs)
        throw runFailure(
          `nats: could not publish to ${subject} for ${publishRetryMs / 1000} s (${said}); run the same submit again once the server is back (stored batches are de-duplicated)`,
        );
      if (attempt === 0) log.warn({ subject, err: said }, 'publish failed; retrying');
      await sleep(backoffMs(attempt, { firstMs: publishRetryDelayFirstMs, maxMs: publishRetryDelayMaxMs }));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
