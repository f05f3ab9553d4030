/** A shard runner's reading of its subject, and a bounded wait (shard-runner.ts). */
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { streamOf, subjectOf } from './names.js';
import { isStreamNotFound } from './nats-errors.js';

/**
 * An ordered consumer of the shard's subject, from the lease's stream position hint (or the start);
 * undefined when the run's stream is gone (deleted before the run finished).
 */
export async function shardConsumer(
  js: JetStreamClient,
  run: string,
  shard: number,
  streamSeq: number,
): Promise<Consumer | undefined> {
  try {
    return await js.consumers.get(streamOf(run), {
      filter_subjects: subjectOf(run, shard),
      ...(streamSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: streamSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
  } catch (error) {
    if (isStreamNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Resolves true once the run's stream is gone while the shard reads it (deleted before the run
 * finished): its ordered consumer reports the stream not found, and the server, asked twice a
 * second apart, says so too. The consumer alone would retry for ever. False when reading ends.
 */
export async function streamDeletedWhileRead(
  js: JetStreamClient,
  run: string,
  messages: ConsumerMessages,
): Promise<boolean> {
  const gone = async () => {
    const jsm = await js.jetstreamManager(false);
    return jsm.streams.info(streamOf(run)).then(
      () => false,
      (error: unknown) => isStreamNotFound(error),
    );
  };
  for await (const status of messages.status()) {
    if (status.type !== 'stream_not_found') continue;
    if (!(await gone())) continue;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (await gone()) return true;
  }
  return false;
}

/** Whether `promise` settles within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return ended;
}
