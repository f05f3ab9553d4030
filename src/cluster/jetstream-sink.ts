/**
 * `payments submit`'s BatchSink: the pipeline's batches (the single run's read, route and batch)
 * gathered into each shard's wire messages and published to the shard's subject of the run's
 * stream (publish.ts ShardPublisher, in order per shard, with backpressure); at the end, the last
 * short message and the end marker of every shard. The nodes decide rejections: they come from
 * the journal later (outputs.ts), so this sink reports none.
 */
import { natsHeaderRoomBytes, natsPayloadMinBytes, publishMessageBytes } from '../constants.js';
import type { TxBatch } from '../engine/batch.js';
import { crc32 } from 'node:zlib';
import { runFailure } from '../errors.js';
import { openInput } from '../io/csv-reader.js';
import { batchLayout } from '../layout.js';
import { runPipeline } from '../pipeline/pipeline.js';
import type { RoutedChunk } from '../pipeline/router.js';
import type { BatchDone, BatchSink } from '../pipeline/sink.js';
import {
  delimiterMismatch,
  ShardPublisher,
  type Published,
  type PublishRequest,
  type PublishTarget,
} from './publish.js';
import { WireGatherer } from './wire.js';

/** Routes the whole input to the shards' subjects, then sends each shard its end marker. */
export async function publishInput(request: PublishRequest, target: PublishTarget): Promise<Published> {
  const { delimiter, explicit } = request.delimiter;
  let readCrc = 0;
  const source = await openInput(request.input, undefined, (bytes) => (readCrc = crc32(bytes, readCrc)));
  // Before the end markers, which would let the nodes finish the shards: the whole input is read.
  const checkRead = async (): Promise<void> => {
    if (request.inputCrc === undefined || readCrc === request.inputCrc) return;
    // Edited while it was read (same size): the stream holds what this submit read beside what any
    // other submit of the run read, batches of no one file. The run is taken for no input again.
    await target.control.markInputChanged(request.run);
    throw runFailure(
      `${request.input}: changed while submit read it (its CRC-32 was ${request.inputCrc} when the run began, ${readCrc} as read): run ${request.run} holds batches of no one file and will give no accounts; submit a file that no longer changes under a new --run`,
    );
  };
  const sink = new JetStreamSink(request, target, checkRead);
  try {
    const piped = await runPipeline({ source, shards: target.shards, delimiter, sniffDelimiter: !explicit }, sink);
    return { ...piped.end, rowsRead: piped.rowsRead };
  } finally {
    await sink.settled();
    await source.close();
  }
}

export class JetStreamSink implements BatchSink<Omit<Published, 'rowsRead'>> {
  private readonly gatherer: WireGatherer;
  private readonly publisher: ShardPublisher;
  private delimiterRecorded = false;

  constructor(
    private readonly request: PublishRequest,
    private readonly target: PublishTarget,
    /** Called once the input is read, before any end marker: throws to send none. */
    private readonly checkRead: () => Promise<void> = async () => {},
  ) {
    const maxBytes = Math.max(natsPayloadMinBytes, target.maxPayload - natsHeaderRoomBytes);
    this.gatherer = new WireGatherer(
      target.shards,
      Math.max(1, Math.floor(Math.min(maxBytes, publishMessageBytes) / batchLayout.rowBytes)),
    );
    this.publisher = new ShardPublisher(target, request.run, request, target.repair);
  }

  /** Before the first batch: the header passed its checks, and a second submit of this run must cut the same batches. */
  async begin(_chunk: RoutedChunk): Promise<void> {
    if (this.delimiterRecorded) return;
    const { run } = this.request;
    const { delimiter } = this.request.delimiter;
    const recorded = await this.target.control.recordDelimiter(run, delimiter);
    if (recorded !== delimiter) throw delimiterMismatch(run, recorded, ' (its batches are in the stream)');
    this.delimiterRecorded = true;
  }

  /** The batch's rows are copied into the shard's messages: its buffer is free at once. */
  accept(shard: number, batch: TxBatch): BatchDone {
    for (const piece of this.gatherer.add(shard, batch)) this.publisher.send(shard, piece);
    return { buffer: batch.buffer };
  }

  ready(): Promise<void> {
    return this.publisher.throttle();
  }

  async end(): Promise<Omit<Published, 'rowsRead'>> {
    await this.checkRead();
    for (let shard = 0; shard < this.target.shards; shard++) {
      const last = this.gatherer.flush(shard);
      if (last !== undefined) this.publisher.send(shard, last);
    }
    await this.publisher.end();
    return { batches: this.publisher.batches, lastLines: this.publisher.lastLines };
  }

  /** Resolves once no publish is in flight (whatever their outcome). */
  settled(): Promise<void> {
    return this.publisher.settled();
  }
}
