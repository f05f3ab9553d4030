/**
 * A sealed run (submit --journal-key-file): every message it publishes and every batch and snapshot
 * its nodes store are sealed (AES-256-GCM) under the key, and it prints what the single-process run
 * prints. Messages injected into its subjects (plain, under another key, moved from another run) are
 * dead letters, never applied, and the shard still finishes. A node without the key quarantines
 * the shard with a named cause, and submit exits 1 naming it; no key is in any output.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealMessage } from '../../src/cluster/message-seal.js';
import { encodeBatch } from '../../src/cluster/wire.js';
import { shardOf } from '../../src/domain/ids.js';
import { journalKey, type JournalKey } from '../../src/journal/seal.js';
import { batchLayout } from '../../src/layout.js';
import { errorLine, runCli } from '../helpers/cli.js';
import { headersOf, makeRunStream } from '../helpers/jetstream.js';
import {
  expectedRun,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';

/** A key file as `openssl rand -hex 32` writes it, and the key. */
function keyFile(world: World, name: string): { file: string; key: JournalKey; hex: string } {
  const bytes = randomBytes(32);
  const file = join(world.dir, name);
  writeFileSync(file, `${bytes.toString('hex')}\n`, { mode: 0o600 });
  return { file, key: journalKey(bytes), hex: bytes.toString('hex') };
}

/** One deposit of `amount` by `client` on `line`, as the wire carries a batch. */
function oneDeposit(line: number, client: number, amount: number): Uint8Array {
  const { data, columns } = batchLayout.allocate(1);
  columns.lines[0] = line;
  columns.clients[0] = client;
  columns.txs[0] = 4_000_000_000;
  columns.amounts[0] = amount;
  columns.kinds[0] = 0;
  return encodeBatch({ count: 1, buffer: data.buffer as ArrayBuffer }, 1 << 20)[0]!.data;
}

describe('sealed cluster runs', { timeout: 180_000 }, () => {
  let world: World;
  let keyA: ReturnType<typeof keyFile>;
  let keyB: ReturnType<typeof keyFile>;

  beforeAll(async () => {
    world = await startWorld();
    keyA = keyFile(world, 'key-a');
    keyB = keyFile(world, 'key-b');
  });
  afterAll(() => stopWorld(world));

  it('seals messages and journal, prints the single run’s bytes, and dead-letters injected messages', async () => {
    const run = 'sealed';
    const expected = await expectedRun(world, run, 40_000, 71);
    const client = [1, 2, 3, 4, 5].find((c) => shardOf(c, 2) === 0)!;
    // The run's stream as submit makes it, holding messages no submit of the run sealed: a batch
    // that would be the shard's first (plain; under another key; under the key but for another
    // run), and a plain end marker. Applied, any of them would change the accounts or stop the shard.
    await makeRunStream(world, run, async (js) => {
      const batchHeaders = () =>
        headersOf({
          'Payments-Batch': '0',
          'Payments-Prev-Line': '0',
          'Payments-First-Line': '2',
          'Payments-Last-Line': '2',
        });
      const body = oneDeposit(2, client, 99_000_000);
      const subject = `payments.${run}.shard.0`;
      await js.publish(subject, body, { headers: batchHeaders() });
      const hb = batchHeaders();
      await js.publish(subject, sealMessage(keyB.key, run, 0, hb, body), { headers: hb });
      const ho = batchHeaders();
      await js.publish(subject, sealMessage(keyA.key, 'other', 0, ho, body), { headers: ho });
      const end = headersOf({
        'Payments-End': '0',
        'Payments-Last-Line': '0',
        'Payments-Prev-Line': '0',
        'Payments-Rows': '0',
      });
      await js.publish(subject, new Uint8Array(0), { headers: end });
    });
    const n1 = startNode(world, 's1', { extra: ['--journal-key-file', keyA.file] });
    const n2 = startNode(world, 's2', { env: { PAYMENTS_JOURNAL_KEY_FILE: `${keyB.file},${keyA.file}` } });
    const rejects = join(world.dir, `${run}.rejects.csv`);
    const args = [expected.input, '--run', run, '--shards', '2', '--journal-key-file', keyA.file];
    const done = await submit(world, [...args, '--rejects', rejects, '--deadline', '150']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(expected.accounts);
    expect(readFileSync(rejects, 'utf8')).toBe(expected.rejects);

    const letters = await withDb(world, async (c) => {
      const r = await c.query(
        'SELECT shard, reason, detail FROM payments_cluster.dead_letters WHERE run = $1 ORDER BY stream_seq',
        [run],
      );
      return r.rows as { shard: number; reason: string; detail: string }[];
    });
    expect(letters.map((l) => [l.shard, l.reason])).toEqual([
      [0, 'not-sealed'],
      [0, 'unknown-key'],
      [0, 'unauthenticated'],
      [0, 'not-sealed'],
    ]);
    expect(letters[0]!.detail).toBe(`not sealed, but run ${run} is sealed`);
    // Node s2 has key B too: a message of the run is still only taken under the run's key.
    expect(letters[1]!.detail).toBe(
      `sealed with unknown key id ${keyB.key.id} (run ${run} is sealed with key id ${keyA.key.id})`,
    );
    expect(letters[2]!.detail).toContain(`does not authenticate under key id ${keyA.key.id}`);

    // Stored sealed: the journal names key A, every batch and snapshot part is a sealed unit of it.
    const stored = await withDb(world, async (c) => {
      const journal = await c.query('SELECT seal_key_id FROM payments.journals WHERE name = $1', [run]);
      const batches = await c.query('SELECT data FROM payments.batches WHERE journal = $1', [run]);
      const snapshots = await c.query('SELECT accounts FROM payments.snapshots WHERE journal = $1', [run]);
      const parts = await c.query('SELECT data FROM payments.snapshot_parts WHERE journal = $1', [run]);
      return {
        keyId: journal.rows[0]?.seal_key_id as string,
        units: [...batches.rows, ...parts.rows]
          .map((r) => r.data)
          .concat(snapshots.rows.map((r) => r.accounts)) as Buffer[],
        snapshots: snapshots.rowCount ?? 0,
      };
    });
    expect(stored.keyId).toBe(keyA.key.id);
    expect(stored.snapshots).toBeGreaterThanOrEqual(2); // each shard's final snapshot
    expect(stored.units.length).toBeGreaterThan(stored.snapshots);
    for (const unit of stored.units) {
      expect(unit[0]).toBe(0xe5);
      expect(unit.toString('hex', 1, 9)).toBe(keyA.key.id);
    }
    // And on the wire: what is left in the stream (trimmed as shards commit) is sealed under key A.
    const wire = await connect({ servers: world.nats.url.replace('nats://', '') });
    try {
      const jsm = await jetstreamManager(wire);
      const info = await jsm.streams.info(`PAYMENTS_${run}`);
      let sealed = 0;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(`PAYMENTS_${run}`, { seq }).catch(() => null);
        if (m === null || m.seq <= 4) continue; // deleted, or one of those injected above
        expect(m.data[0]).toBe(0xe5);
        expect(Buffer.from(m.data).toString('hex', 1, 9)).toBe(keyA.key.id);
        sealed++;
      }
      expect(sealed).toBeGreaterThanOrEqual(2); // the end markers at least
    } finally {
      await wire.close();
    }

    // `result` needs the key; without it one line names the key id.
    const again = await runCli(['result', '--run', run, '--journal', world.journal, '--journal-key-file', keyA.file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(expected.accounts);
    const keyless = await runCli(['result', '--run', run, '--journal', world.journal]);
    expect(keyless.code).toBe(2);
    expect(errorLine(keyless.stderr)).toMatch(new RegExp(`sealed .*key id ${keyA.key.id}.*--journal-key-file`));
    const shown = await runCli(['shards', '--run', run, '--journal', world.journal]);
    expect(shown.stdout).toMatch(/^0,\d+,0,not-sealed,"?not sealed, but run sealed is sealed/m);
    for (const text of [done.stdout, done.stderr, again.stderr, keyless.stderr, n1.stderr, n2.stderr, shown.stdout])
      for (const secret of [keyA.hex, keyB.hex]) expect(text).not.toContain(secret);
    await n1.kill('SIGKILL');
    await n2.kill('SIGKILL');
  });

  it('quarantines the shards of a node without the run’s key; submit exits 1 naming them and the cause', async () => {
    for (const node of world.nodes) await node.kill('SIGKILL');
    const run = 'locked';
    const expected = await expectedRun(world, run, 5000, 72);
    const node = startNode(world, 'nokey', { extra: ['--journal-key-file', keyB.file] });
    const refused = await submit(world, [
      expected.input,
      '--run',
      run,
      '--shards',
      '2',
      '--journal-key-file',
      keyA.file,
      '--deadline',
      '120',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    const cause = `run ${run} is sealed with key id ${keyA.key.id}, and this node has no key with that id (its key ids: ${keyB.key.id})`;
    expect(errorLine(refused.stderr)).toMatch(/run locked: shard \d quarantined: run locked is sealed with key id/);
    expect(errorLine(refused.stderr)).toContain(cause);
    const quarantines = () =>
      withDb(world, async (c) => {
        const r = await c.query('SELECT quarantined, cause FROM payments_cluster.leases WHERE run = $1', [run]);
        return r.rows as { quarantined: boolean; cause: string }[];
      });
    // submit ends at the first quarantine; the node records the other shard's within a tick.
    await until(async () => (await quarantines()).filter((l) => l.quarantined).length === 2, {
      ms: 10_000,
      what: 'both shards quarantined',
    });
    const causes = await quarantines();
    expect(causes).toHaveLength(2);
    for (const l of causes) expect(l.quarantined && l.cause.startsWith(cause)).toBe(true);
    // Not a crash, not a loop: the node runs on, and nothing of the run was committed.
    expect(node.child.exitCode).toBeNull();
    expect(
      await withDb(
        world,
        async (c) =>
          (await c.query('SELECT count(*)::int AS n FROM payments.batches WHERE journal = $1', [run])).rows[0].n,
      ),
    ).toBe(0);
    // A node with the key in its place, and the same submit again, repair the run.
    await node.kill('SIGKILL');
    const keyed = startNode(world, 'withkey', { extra: ['--journal-key-file', keyA.file] });
    const repaired = await submit(world, [
      expected.input,
      '--run',
      run,
      '--journal-key-file',
      keyA.file,
      '--deadline',
      '120',
    ]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(expected.accounts);
    for (const text of [refused.stderr, repaired.stderr, node.stderr, keyed.stderr])
      for (const secret of [keyA.hex, keyB.hex]) expect(text).not.toContain(secret);
    await node.kill('SIGKILL');
    await keyed.kill('SIGKILL');
  });

  it('refuses a plain submit of a sealed run, and a sealed submit of a plain one (exit 2)', async () => {
    const expected = await expectedRun(world, 'plainrun', 1000, 73);
    const detached = await submit(world, [expected.input, '--run', 'plainrun', '--shards', '1', '--detach']);
    expect(detached.code, detached.stderr).toBe(0);
    const sealing = await submit(world, [
      expected.input,
      '--run',
      'plainrun',
      '--journal-key-file',
      keyA.file,
      '--detach',
    ]);
    expect(sealing.code).toBe(2);
    expect(errorLine(sealing.stderr)).toMatch(/is not sealed, and a run must not seal only part of it/);
    const plain = await submit(world, [join(world.dir, 'sealed.csv'), '--run', 'sealed', '--detach']);
    expect(plain.code).toBe(2);
    expect(errorLine(plain.stderr)).toMatch(new RegExp(`is sealed .*key id ${keyA.key.id}`));
  });
});
