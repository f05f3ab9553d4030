/**
 * A shard's stream missing a batch (deleted by hand) never finishes short and never wedges: the
 * shard is quarantined with its cause at once (no claim loop), submit exits 1 naming the shard and
 * the cause, and running the same submit again (inside the de-duplication window) republishes
 * what the journal lacks, lifts the quarantine, and prints the right accounts. In a run not sealed,
 * a forged end marker that finishes a shard short is named as such, never printed as accounts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCli } from '../helpers/cli.js';
import {
  expectedRun,
  spawnSubmit,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  withDb,
  type World,
} from '../helpers/cluster.js';
import { deleteMessage, headersOf, lastMessage, makeRunStream } from '../helpers/jetstream.js';

/** How many times the shard's lease changed hands (a claim loop would count up fast). */
const changes = (world: World, run: string) =>
  withDb(world, async (c) => {
    const r = await c.query('SELECT changes, quarantined, cause FROM payments_cluster.leases WHERE run = $1', [run]);
    return r.rows[0] as { changes: number; quarantined: boolean; cause: string };
  });

describe('a batch missing from a shard’s stream', { timeout: 120_000 }, () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => stopWorld(world));

  for (const [name, seq, seed] of [
    ['gap', 3, 81], // batch 2: batch numbers show it
    ['gap0', 1, 82], // batch 0: only the chain of lines shows it
  ] as const)
    it(`quarantines the shard, submit exits 1 naming it, and submitting again repairs it (${name})`, async () => {
      const expected = await expectedRun(world, name, 200_000, seed);
      const args = [expected.input, '--run', name, '--shards', '1'];
      expect((await submit(world, [...args, '--detach'])).code).toBe(0);
      expect(await deleteMessage(world, `PAYMENTS_${name}`, seq)).toBeGreaterThan(3);
      // A submit that waits when the loss is found (started before any node, so the node finds it).
      const waiting = spawnSubmit(world, [...args, '--deadline', '100']);
      await until(() => waiting.stderr().includes('"msg":"published"'));
      const node = startNode(world, `node-${name}`);
      const failed = await waiting.result;
      expect(failed.code, failed.stderr).toBe(1);
      expect(failed.stdout).toBe('');
      expect(errorLine(failed.stderr)).toMatch(new RegExp(`run ${name}: shard 0 quarantined: .*missing`));
      const lease = await changes(world, name);
      expect(lease.quarantined).toBe(true);
      // Quarantined at its first claim: nobody claims it again.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await changes(world, name)).changes).toBe(lease.changes);
      const result = await runCli(['result', '--run', name, '--journal', world.journal]);
      expect(result.code).toBe(2);
      const shown = await runCli(['shards', '--run', name, '--journal', world.journal]);
      expect(shown.stdout).toMatch(/^0,quarantined,/m);
      // The file is the source of truth: the same submit again, inside the de-duplication window.
      const repaired = await submit(world, [...args, '--deadline', '100']);
      expect(repaired.code, repaired.stderr).toBe(0);
      expect(repaired.stdout).toBe(expected.accounts);
      expect((await changes(world, name)).quarantined).toBe(false);
      await node.kill('SIGKILL');
    });

  it('an end marker lost from the stream: the next submit quarantines the shard, whoever owns it, and repairs it inside the window', async () => {
    const expected = await expectedRun(world, 'endlost', 100_000, 84);
    const args = [expected.input, '--run', 'endlost', '--shards', '1'];
    expect((await submit(world, [...args, '--detach'])).code).toBe(0);
    const end = await lastMessage(world, 'PAYMENTS_endlost', 'payments.endlost.shard.0');
    expect(end?.headers['Payments-End']).toBeDefined();
    await deleteMessage(world, 'PAYMENTS_endlost', end!.seq);
    // A node reads every batch, then waits for an end marker that will not come: starved.
    const node = startNode(world, 'endlost1');
    await until(async () => (await changes(world, 'endlost')).changes > 0);
    // The same submit again: its end marker is a copy the de-duplication window would drop.
    const repaired = await submit(world, [...args, '--deadline', '60']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(expected.accounts);
    expect(repaired.stderr).toMatch(/shard 0: its subject in the stream holds no end marker of the run/);
    await node.kill('SIGKILL');
  });

  it('an end marker lost while submit waits: it names the shard (exit 1) instead of waiting out --deadline', async () => {
    const expected = await expectedRun(world, 'endlost2', 50_000, 85);
    const args = [expected.input, '--run', 'endlost2', '--shards', '1'];
    const waiting = spawnSubmit(world, [...args, '--deadline', '100']);
    await until(() => waiting.stderr().includes('"msg":"published"'));
    const end = await lastMessage(world, 'PAYMENTS_endlost2', 'payments.endlost2.shard.0');
    await deleteMessage(world, 'PAYMENTS_endlost2', end!.seq);
    const node = startNode(world, 'endlost2');
    const failed = await waiting.result;
    expect(failed.code, failed.stderr).toBe(1);
    expect(errorLine(failed.stderr)).toMatch(/run endlost2: shard 0 quarantined: .*holds no end marker of the run/);
    const repaired = await submit(world, [...args, '--deadline', '60']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(expected.accounts);
    await node.kill('SIGKILL');
  });

  it("a submit waiting while its run's journal is removed and the name submitted again with another file: exit 1, never the other file's accounts", async () => {
    const mine = await expectedRun(world, 'replaced-a', 50_000, 86);
    const theirs = await expectedRun(world, 'replaced-b', 20_000, 87);
    const waiting = spawnSubmit(world, [mine.input, '--run', 'replaced', '--shards', '2', '--deadline', '100']);
    await until(() => waiting.stderr().includes('"msg":"published"'));
    await withDb(world, async (c) => {
      await c.query("DELETE FROM payments.journals WHERE name = 'replaced'");
    });
    const node = startNode(world, 'replaced1');
    const other = await submit(world, [theirs.input, '--run', 'replaced', '--shards', '2', '--deadline', '60']);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toBe(theirs.accounts);
    const first = await waiting.result;
    expect(first.code, first.stderr).toBe(1);
    expect(first.stdout).toBe('');
    expect(errorLine(first.stderr)).toMatch(/run replaced: its journal was removed while this submit waited/);
    await node.kill('SIGKILL');
  });

  it('batches stored by a submit that read the file while it changed, then stopped: the next submit finds a copy with other rows, exit 1, no accounts', async () => {
    const expected = await expectedRun(world, 'copied', 200_000, 88);
    const original = readFileSync(expected.input);
    // One digit of a row in the middle: the same size, first and last MiB.
    const changed = Buffer.from(original);
    const at = changed.indexOf('\ndeposit,', changed.length >> 1) + 1;
    const digit = changed.indexOf(',', changed.indexOf(',', changed.indexOf(',', at) + 1) + 1) + 1;
    changed[digit] = changed[digit] === 0x31 ? 0x32 : 0x31;
    const edited = join(world.dir, 'copied-edited.csv');
    writeFileSync(edited, changed);
    expect((await submit(world, [edited, '--run', 'copied', '--shards', '1', '--detach'])).code).toBe(0);
    // What a submit killed before its end leaves: the journal says the file as it was, the stream
    // holds batches of the file as it was read while it changed.
    await withDb(world, (c) =>
      c.query("UPDATE payments.journals SET input_name = $1, input_crc = $2 WHERE name = 'copied'", [
        expected.input,
        crc32(original),
      ]),
    );
    const again = await submit(world, [expected.input, '--run', 'copied', '--shards', '1', '--deadline', '20']);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stdout).toBe('');
    expect(errorLine(again.stderr)).toMatch(
      /run copied: batch \d+ of shard 0 is in its stream with other rows than this file gives/,
    );
    const result = await runCli(['result', '--run', 'copied', '--journal', world.journal]);
    expect(result.code).toBe(2);
    expect(errorLine(result.stderr)).toMatch(/its input changed while a submit read it/);
  });

  it('an end marker forged with the journal id a run not sealed gets: submit says the shard finished short (exit 1)', async () => {
    const expected = await expectedRun(world, 'forged', 50_000, 83);
    // A run's journal id comes from a sequence: whoever reads it can stamp a message for the next run.
    const next = await withDb(world, async (c) => {
      const migrated = await runCli(['migrate', '--journal', world.journal]);
      expect(migrated.code, migrated.stderr).toBe(0);
      const r = await c.query(`SELECT nextval(pg_get_serial_sequence('payments.journals', 'id'))::int AS v`);
      return (r.rows[0].v as number) + 1;
    });
    await makeRunStream(world, 'forged', async (js) => {
      const h = headersOf({
        'Payments-Journal': String(next),
        'Payments-End': '0',
        'Payments-Last-Line': '0',
        'Payments-Prev-Line': '0',
        'Payments-Rows': '0',
      });
      await js.publish('payments.forged.shard.0', new Uint8Array(0), { headers: h });
    });
    const node = startNode(world, 'forged1');
    const done = await submit(world, [expected.input, '--run', 'forged', '--shards', '1', '--deadline', '60']);
    expect(done.code, done.stderr).toBe(1);
    expect(done.stdout).toBe('');
    expect(errorLine(done.stderr)).toMatch(
      /run forged: shard 0 is finished at line 0, but its input was published up to line \d+: it accepted an end marker that was not the run's .*--journal-key-file/,
    );
    await node.kill('SIGKILL');
  });
});
