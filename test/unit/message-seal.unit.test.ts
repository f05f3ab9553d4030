/** A sealed run's messages (src/cluster/message-seal.ts), and how a shard judges them (shard-messages.ts). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { missingRunKey, openMessage, sealMessage } from '../../src/cluster/message-seal.js';
import { judge, type HeaderSource } from '../../src/cluster/shard-messages.js';
import { encodeBatch } from '../../src/cluster/wire.js';
import { journalKey } from '../../src/journal/seal.js';
import { batchLayout } from '../../src/layout.js';

const key = journalKey(randomBytes(32));
const other = journalKey(randomBytes(32));

function headersOf(values: Record<string, string>): HeaderSource {
  return { get: (k) => values[k] ?? '', keys: () => Object.keys(values), values: (k) => [values[k] ?? ''] };
}

const batchHeaders = {
  'Payments-Journal': '7',
  'Payments-Batch': '3',
  'Payments-Prev-Line': '1',
  'Payments-First-Line': '2',
  'Payments-Last-Line': '5',
};
const endHeaders = { 'Payments-End': '4', 'Payments-Last-Line': '5', 'Payments-Prev-Line': '5', 'Payments-Rows': '2' };

function wire(lines: number[]): Uint8Array {
  const { data, columns } = batchLayout.allocate(lines.length);
  lines.forEach((line, i) => {
    columns.lines[i] = line;
    columns.clients[i] = 1;
    columns.txs[i] = line;
    columns.amounts[i] = 100;
    columns.kinds[i] = 0;
  });
  return encodeBatch({ count: lines.length, buffer: data.buffer as ArrayBuffer }, 1 << 20)[0]!.data;
}

describe('sealing a message', () => {
  const plain = wire([2, 5]);
  const sealed = sealMessage(key, 'run-a', 0, headersOf(batchHeaders), plain);

  it('round trips, hides the body, names its key id and uses a fresh nonce each time', () => {
    const opened = openMessage([other, key], 'run-a', key.id, 0, headersOf(batchHeaders), sealed);
    expect('plain' in opened && Buffer.compare(opened.plain, Buffer.from(plain))).toBe(0);
    expect(sealed.toString('hex', 1, 9)).toBe(key.id);
    expect(sealed.includes(Buffer.from(plain).subarray(0, 16))).toBe(false);
    const again = sealMessage(key, 'run-a', 0, headersOf(batchHeaders), plain);
    expect(again.subarray(9, 21).equals(sealed.subarray(9, 21))).toBe(false);
    const end = sealMessage(key, 'run-a', 0, headersOf(endHeaders), new Uint8Array(0));
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(endHeaders), end)).toEqual({ plain: Buffer.alloc(0) });
  });

  it('refuses another run, another shard, and each bound header changed, added or removed', () => {
    const refused = (run: string, shard: number, h: Record<string, string>) =>
      openMessage([key], run, key.id, shard, headersOf(h), sealed);
    expect(refused('run-b', 0, batchHeaders)).toMatchObject({ reason: 'unauthenticated' });
    expect(refused('run-a', 1, batchHeaders)).toMatchObject({ reason: 'unauthenticated' });
    for (const name of Object.keys(batchHeaders)) {
      expect(refused('run-a', 0, { ...batchHeaders, [name]: '9' })).toMatchObject({ reason: 'unauthenticated' });
      const without: Record<string, string> = { ...batchHeaders };
      delete without[name];
      expect(refused('run-a', 0, without)).toMatchObject({ reason: 'unauthenticated' });
    }
    for (const name of ['Payments-End', 'Payments-Rows'])
      expect(refused('run-a', 0, { ...batchHeaders, [name]: '0' })).toMatchObject({ reason: 'unauthenticated' });
    // Unbound headers (trace context) may differ.
    expect(refused('run-a', 0, { ...batchHeaders, traceparent: 'x' })).toHaveProperty('plain');
  });

  it('binds the journal id when a message has one, and adds nothing for one sealed before it existed', () => {
    const { 'Payments-Journal': _journal, ...earlier } = batchHeaders;
    const old = sealMessage(key, 'run-a', 0, headersOf(earlier), wire([2, 5]));
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(earlier), old)).toHaveProperty('plain');
    // Stamped afterwards, it no longer authenticates: a journal id cannot be put on a message.
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(batchHeaders), old)).toMatchObject({
      reason: 'unauthenticated',
    });
  });

  it('refuses a flipped byte anywhere in nonce, ciphertext or tag', () => {
    for (let at = 9; at < sealed.byteLength; at++) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      expect(openMessage([key], 'run-a', key.id, 0, headersOf(batchHeaders), bad)).toMatchObject({
        reason: 'unauthenticated',
      });
    }
  });

  it('names an unknown key id, and a body that is not sealed', () => {
    const unknown = Buffer.from(sealed);
    unknown.write(other.id, 1, 'hex');
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(batchHeaders), unknown)).toEqual({
      reason: 'unknown-key',
      detail: `sealed with unknown key id ${other.id} (run run-a is sealed with key id ${key.id})`,
    });
    expect(openMessage([other], 'run-a', key.id, 0, headersOf(batchHeaders), sealed)).toEqual({
      reason: 'unknown-key',
      detail: `sealed with unknown key id ${key.id} (run run-a is sealed with key id ${key.id}, which this node lacks)`,
    });
    // Under a key the node has, but not the run's: refused all the same.
    const foreign = sealMessage(other, 'run-a', 0, headersOf(batchHeaders), plain);
    expect(openMessage([key, other], 'run-a', key.id, 0, headersOf(batchHeaders), foreign)).toMatchObject({
      reason: 'unknown-key',
    });
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(batchHeaders), plain)).toMatchObject({
      reason: 'not-sealed',
    });
    expect(openMessage([key], 'run-a', key.id, 0, headersOf(endHeaders), new Uint8Array(0))).toMatchObject({
      reason: 'not-sealed',
    });
  });

  it('says why a node cannot run a sealed run, and nothing for a plain one or one it has the key of', () => {
    expect(missingRunKey({ run: 'r', keyId: undefined, keys: [] })).toBeUndefined();
    expect(missingRunKey({ run: 'r', keyId: key.id, keys: [other, key] })).toBeUndefined();
    const cause = missingRunKey({ run: 'r', keyId: key.id, keys: [other] })!;
    expect(cause).toContain(`sealed with key id ${key.id}`);
    expect(cause).toContain(other.id);
    expect(cause).not.toContain(Buffer.from(key.key).toString('hex'));
    expect(missingRunKey({ run: 'r', keyId: key.id, keys: [] })).toContain('its key ids: none');
  });
});

describe('judging a sealed run’s message', () => {
  const at = { shard: 0, shards: 1, sentLine: 1, journal: 7 };
  const seal = { run: 'run-a', keyId: key.id, keys: [key] };
  const h = headersOf(batchHeaders);

  it('applies a sealed batch, and dead-letters one not sealed, under another key, or tampered', () => {
    const sealed = sealMessage(key, 'run-a', 0, h, wire([2, 5]));
    expect(judge(h, sealed, at, seal)).toMatchObject({ kind: 'apply', lastLine: 5 });
    expect(judge(h, wire([2, 5]), at, seal)).toMatchObject({ kind: 'dead', reason: 'not-sealed', batch: '3' });
    const foreign = sealMessage(other, 'run-a', 0, h, wire([2, 5]));
    expect(judge(h, foreign, at, seal)).toMatchObject({ kind: 'dead', reason: 'unknown-key' });
    expect(judge(h, foreign, at, { ...seal, keys: [key, other] })).toMatchObject({
      kind: 'dead',
      reason: 'unknown-key',
    });
    const moved = headersOf({ ...batchHeaders, 'Payments-Prev-Line': '0' });
    expect(judge(moved, sealed, { ...at, sentLine: 0 }, seal)).toMatchObject({
      kind: 'dead',
      reason: 'unauthenticated',
    });
    // Without the run's seal (a plain run) the same sealed body does not decode.
    expect(judge(h, sealed, at)).toMatchObject({ kind: 'dead', reason: 'undecodable' });
  });

  it('dead-letters a plain end marker: it could otherwise finish the shard', () => {
    const end = headersOf({
      'Payments-Journal': '7',
      'Payments-End': '1',
      'Payments-Last-Line': '1',
      'Payments-Rows': '1',
    });
    expect(judge(end, new Uint8Array(0), at, seal)).toMatchObject({ kind: 'dead', reason: 'not-sealed' });
    const sealedEnd = sealMessage(key, 'run-a', 0, end, new Uint8Array(0));
    expect(judge(end, sealedEnd, at, seal)).toEqual({ kind: 'end', lastLine: 1, rows: 1 });
  });
});
