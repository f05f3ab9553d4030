/** JetStream by hand, as an operator (or an accident) would touch a run's stream. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
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
