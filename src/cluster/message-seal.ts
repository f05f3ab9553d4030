/**
 * Sealing of a sealed run's messages on the wire (AES-256-GCM, node:crypto): the body of every
 * message submit publishes to a shard's subject, batches and end markers alike, is
 *
 *   0xE5 | key id (8 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
 *
 * the layout of a sealed journal unit (journal/seal.ts), under the key that seals the run's journal.
 * The nonce is 96 random bits per message: a message is published again with the same headers by a
 * second submit or a repair, so a nonce derived from its place would repeat under one key. The
 * associated data binds the body to its run, its shard and every header a node judges it by (batch
 * number, previous, first and last line; on an end marker its batch count, last line and row count),
 * so a body moved to another run, shard or position, or headers edited, fail authentication.
 *
 * A run is sealed when its journal is (payments.journals.seal_key_id): a node then opens each
 * message before judging it, and one that is not sealed, is sealed under a key it lacks or does not
 * authenticate is a dead letter, never applied (shard-messages.ts).
 */
import { openUnit, sealUnit, unitKeyId, type JournalKey, type JournalKeyring } from '../journal/seal.js';
import { header } from './names.js';

/** Distinguishes a message's associated data from a journal unit's (whose first byte is 1 to 3). */
const messageDomain = 0x4d;
/** The headers the associated data binds, in this order (an absent one binds as absent). */
const boundHeaders = [header.batch, header.prevLine, header.firstLine, header.lastLine, header.end, header.rows];

/** What the associated data reads a message's headers through (a JsMsg's or a MsgHdrs). */
export interface BoundHeaders {
  get(key: string): string;
}

/** Why a message of a sealed run is refused. */
export type MessageSealRefusal =
  | { readonly reason: 'not-sealed'; readonly detail: string }
  | { readonly reason: 'unknown-key'; readonly detail: string }
  | { readonly reason: 'unauthenticated'; readonly detail: string };

function associatedData(run: string, shard: number, h: BoundHeaders | undefined): Buffer {
  const parts: Buffer[] = [Buffer.from([messageDomain])];
  const field = (text: string | undefined) => {
    const bytes = Buffer.from(text ?? '', 'utf8');
    const head = Buffer.alloc(5);
    head[0] = text === undefined ? 0 : 1;
    head.writeUInt32BE(bytes.byteLength, 1);
    parts.push(head, bytes);
  };
  field(run);
  field(String(shard));
  for (const name of boundHeaders) field(h?.get(name) || undefined);
  // The journal id is bound when present, and adds nothing when absent: a message sealed before
  // it existed authenticates as it did (and is then refused as of no journal).
  const journal = h?.get(header.journal) || undefined;
  if (journal !== undefined) field(journal);
  return Buffer.concat(parts);
}

/** Seals the body of a message of `run`'s `shard` with these headers (set before sealing). */
export function sealMessage(key: JournalKey, run: string, shard: number, h: BoundHeaders, plain: Uint8Array): Buffer {
  return sealUnit(key, associatedData(run, shard, h), plain);
}

/**
 * The plain body of a message of `run`, sealed under its key (`runKeyId`), authenticated; or why it
 * is refused. A body sealed under any other key is refused even when the node has that key: a
 * node's keys may be shared with other runs, and only the run's own key speaks for its submit.
 */
export function openMessage(
  keys: JournalKeyring,
  run: string,
  runKeyId: string,
  shard: number,
  h: BoundHeaders | undefined,
  sealed: Uint8Array,
): { readonly plain: Buffer } | MessageSealRefusal {
  const keyId = unitKeyId(sealed);
  if (keyId === undefined) return { reason: 'not-sealed', detail: `not sealed, but run ${run} is sealed` };
  const key = keyId === runKeyId ? keys.find((k) => k.id === keyId) : undefined;
  if (key === undefined)
    return {
      reason: 'unknown-key',
      detail: `sealed with unknown key id ${keyId} (run ${run} is sealed with key id ${runKeyId}${keyId === runKeyId ? ', which this node lacks' : ''})`,
    };
  try {
    return { plain: openUnit(key, associatedData(run, shard, h), sealed) };
  } catch {
    return {
      reason: 'unauthenticated',
      detail: `does not authenticate under key id ${keyId} (damaged, edited, or moved from another run, shard or position)`,
    };
  }
}

/** How a node opens a run's messages: the run's seal key id (undefined: not sealed) and the node's keys. */
export interface RunSeal {
  readonly run: string;
  readonly keyId: string | undefined;
  readonly keys: JournalKeyring;
}

/**
 * Why a node cannot run a shard of this run (its journal sealed with a key the node was not given),
 * or undefined when it can: the shard is quarantined with this cause, never retried in a loop.
 */
export function missingRunKey(seal: RunSeal): string | undefined {
  if (seal.keyId === undefined || seal.keys.some((k) => k.id === seal.keyId)) return undefined;
  const mine = seal.keys.length === 0 ? 'none' : seal.keys.map((k) => k.id).join(', ');
  return `run ${seal.run} is sealed with key id ${seal.keyId}, and this node has no key with that id (its key ids: ${mine}); start nodes with that key (--journal-key-file), then run the same submit again`;
}

/** Seals a message body of one shard of a run, given its headers. */
export type MessageSealer = (shard: number, h: BoundHeaders, plain: Uint8Array) => Uint8Array;

/** The sealer of `run`'s messages under `key` (the key its journal is sealed with). */
export function messageSealer(key: JournalKey, run: string): MessageSealer {
  return (shard, h, plain) => sealMessage(key, run, shard, h, plain);
}
