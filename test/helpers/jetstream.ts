/** JetStream by hand, as an operator (or an accident) would touch a run's stream. */
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { expect } from 'vitest';
import type { World } from './cluster.js';

/** Deletes the message at `seq` of `stream`; returns how many messages the stream still holds. */
export async function deleteMessage(world: World, stream: string, seq: number): Promise<number> {
  const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
  try {
    const jsm = await jetstreamManager(nc);
    expect(await jsm.streams.deleteMessage(stream, seq)).toBe(true);
    return (await jsm.streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

/**
 * Makes a run's stream as `submit` makes it (one subject per shard, `--max-lag` 256), then lets
 * `fill` publish into it before the run's own batches: foreign or forged messages.
 */
export async function makeRunStream(
  world: World,
  run: string,
  fill: (js: ReturnType<typeof jetstream>) => Promise<void>,
): Promise<void> {
  const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
  try {
    await (
      await jetstreamManager(nc)
    ).streams.add({
      name: `PAYMENTS_${run}`,
      subjects: [`payments.${run}.shard.*`],
      max_msgs_per_subject: 256,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    });
    await fill(jetstream(nc));
  } finally {
    await nc.close();
  }
}

/** NATS message headers from a plain record. */
export function headersOf(values: Record<string, string>): ReturnType<typeof headers> {
  const h = headers();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

/** A header of the last message stored on `subject` (undefined: no such header, or no message). */
export async function lastHeader(
  world: World,
  stream: string,
  subject: string,
  name: string,
): Promise<string | undefined> {
  const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
  try {
    const jsm = await jetstreamManager(nc);
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    return last?.header?.get(name) || undefined;
  } finally {
    await nc.close();
  }
}

/** The sequence number and headers of the last message stored on `subject` (undefined: none). */
export async function lastMessage(
  world: World,
  stream: string,
  subject: string,
): Promise<{ seq: number; headers: Record<string, string> } | undefined> {
  const nc = await connect({ servers: world.nats.url.replace('nats://', '') });
  try {
    const jsm = await jetstreamManager(nc);
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    if (!last) return undefined;
    const headers: Record<string, string> = {};
    for (const [key, values] of last.header ?? []) headers[key] = values[0]!;
    return { seq: last.seq, headers };
  } finally {
    await nc.close();
  }
}
