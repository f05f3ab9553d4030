/**
 * Layered PostgreSQL snapshots (src/journal/postgres/snapshot-write.ts): a snapshot written soon
 * after a full one holds only the index entries changed since, over that base. Recovery from base +
 * delta equals recovery from a full snapshot, replays nothing, and a damaged or re-pointed delta
 * is refused (JournalCorrupt, exit 2), never misread.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandCode } from '../../src/domain/account.js';
import { BatchBuilder, BufferPool } from '../../src/engine/batch.js';
import type { EngineState } from '../../src/engine/journal-port.js';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { JournalCorrupt } from '../../src/errors.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { resealPostgres } from '../../src/journal/postgres/reseal.js';
import { replayPostgres } from '../../src/journal/postgres/run.js';
import { accountsChecksum, accountsFields } from '../../src/journal/postgres/snapshot-write.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { journalKey, type JournalKeyring } from '../../src/journal/seal.js';
import { freshDatabase, urlFor, withAdmin } from '../helpers/postgres.js';

const input = { name: 'input.csv', size: 1234, headCrc: 1, tailCrc: 2 };
let database: string;

beforeAll(async () => {
  database = await freshDatabase('layered');
});

const target = (journal: string) => parsePostgresUrl(urlFor(database, { params: { journal } }));

/** A sealed journal's key (journal/seal.ts): its snapshots' fields bind the base too. */
const sealed = [journalKey(new Uint8Array(32).fill(7))];

async function openJournal(journal: string, keys: JournalKeyring = []): Promise<void> {
  const store = new PostgresJournalStore(target(journal), { keys });
  await store.openRun(input, 1);
  await store.close();
}

async function open(journal: string, keys: JournalKeyring = []) {
  const partition = new PostgresPartition(target(journal), 0, 1, { keys });
  const { engine, recovery } = await ShardEngine.open(partition);
  return { partition, engine, recovery };
}

/** Lines from..to: deposits (tx = line, now and then an id below the largest), withdrawals, disputes and chargebacks of earlier deposits. */
async function apply(engine: ShardEngine, from: number, to: number): Promise<void> {
  const builder = new BatchBuilder(new BufferPool(1024));
  for (let line = from; line <= to; line++) {
    const client = 1 + (line % 13);
    const r = line % 10;
    if (r < 5) builder.push(CommandCode.Deposit, client, line % 17 === 0 ? 1_000_000 + line : line, 100 * line, line);
    else if (r < 7) builder.push(CommandCode.Withdraw, client, line, 1, line);
    else if (r < 9) builder.push(CommandCode.OpenDispute, 1 + ((line - 30) % 13), line - 30, 0, line);
    else builder.push(CommandCode.ChargeBack, 1 + ((line - 39) % 13), line - 39, 0, line);
    if (line % 500 === 0 || line === to) await engine.applyBatch(builder.take());
  }
}

/** What a recovery gives: every account and every index entry, in a comparable order. */
function contents(state: EngineState) {
  const entries: [number, number, number][] = [];
  for (const part of state.txParts(1 << 18))
    for (let i = 0; i < part.keys.length; i++) entries.push([part.keys[i]!, part.infos[i]!, part.amounts[i]!]);
  entries.sort((a, b) => a[0] - b[0]);
  const accounts = [...state.accounts].sort((a, b) => a.client - b.client);
  return { accounts, entries, events: state.events };
}

const rows = (journal: string) =>
  withAdmin(
    async (c) =>
      (
        await c.query('SELECT seq::int, base_seq::int FROM payments.snapshots WHERE journal = $1 ORDER BY seq', [
          journal,
        ])
      ).rows,
    database,
  );

/** A journal of 20,000 lines, a full snapshot, 600 lines more and the snapshot a handoff writes. */
async function layeredJournal(journal: string, keys: JournalKeyring = []): Promise<ReturnType<typeof contents>> {
  await openJournal(journal, keys);
  const { partition, engine } = await open(journal, keys);
  await apply(engine, 1, 20_000);
  await partition.writeSnapshot(engine.state());
  await apply(engine, 20_001, 20_600);
  await partition.writeSnapshot(engine.state());
  const before = contents(engine.state());
  await partition.close();
  return before;
}

describe('a layered snapshot', () => {
  it('holds only what changed since the full one, and recovers as a full snapshot does, replaying nothing', async () => {
    const before = await layeredJournal('layered');
    expect(await rows('layered')).toEqual([
      { seq: 20_000, base_seq: null },
      { seq: 20_600, base_seq: 20_000 },
    ]);
    const parts = await withAdmin(
      async (c) =>
        (
          await c.query(
            'SELECT seq::int, sum(length(data))::int AS bytes FROM payments.snapshot_parts WHERE journal = $1 GROUP BY seq ORDER BY seq',
            ['layered'],
          )
        ).rows,
      database,
    );
    expect(parts[1].bytes).toBeLessThan(parts[0].bytes / 5);

    const layered = await open('layered');
    expect(layered.recovery).toMatchObject({ snapshotSeq: 20_600, recordsReplayed: 0, resumeLine: 20_600 });
    expect(contents(layered.engine.state())).toEqual(before);

    // The same journal with a full snapshot at the end recovers to the same state.
    await openJournal('full');
    const writer = await open('full');
    await apply(writer.engine, 1, 20_600);
    await writer.partition.writeSnapshot({ ...writer.engine.state(), txDelta: undefined });
    await writer.partition.close();
    expect((await rows('full')).map((r) => r.base_seq)).toEqual([null]);
    const full = await open('full');
    expect(full.recovery.recordsReplayed).toBe(0);
    expect(contents(full.engine.state())).toEqual(contents(layered.engine.state()));

    // The next owner goes on: another layered snapshot over the same base holds the first one's changes too.
    await apply(layered.engine, 20_601, 21_000);
    await layered.partition.writeSnapshot(layered.engine.state());
    await apply(full.engine, 20_601, 21_000);
    const expected = contents(full.engine.state());
    await Promise.all([layered.partition.close(), full.partition.close()]);
    expect(await rows('layered')).toEqual([
      { seq: 20_000, base_seq: null },
      { seq: 21_000, base_seq: 20_000 },
    ]);
    const again = await open('layered');
    expect(again.recovery.recordsReplayed).toBe(0);
    expect(contents(again.engine.state())).toEqual(expected);
    // A large change writes a full snapshot, and the base and delta go.
    await apply(again.engine, 21_001, 30_000);
    await again.partition.writeSnapshot(again.engine.state());
    await again.partition.close();
    expect(await rows('layered')).toEqual([{ seq: 30_000, base_seq: null }]);
  });

  it('is sealed like a full one, its base bound by its fields: recovered whole, refused when re-pointed', async () => {
    const before = await layeredJournal('sealed', sealed);
    expect((await rows('sealed')).map((r) => r.base_seq)).toEqual([null, 20_000]);
    const layered = await open('sealed', sealed);
    expect(layered.recovery.recordsReplayed).toBe(0);
    expect(contents(layered.engine.state())).toEqual(before);
    await layered.partition.close();
    // Re-pointed, with a checksum made to match: the sealed fields still refuse it.
    await withAdmin(
      (c) => c.query('UPDATE payments.snapshots SET base_seq = NULL WHERE journal = $1 AND seq = 20600', ['sealed']),
      database,
    );
    await withAdmin(async (c) => {
      const row = (
        await c.query(
          'SELECT accounts, line, events, tx_parts FROM payments.snapshots WHERE journal = $1 AND seq = 20600',
          ['sealed'],
        )
      ).rows[0];
      await c.query('UPDATE payments.snapshots SET crc = $2 WHERE journal = $1 AND seq = 20600', [
        'sealed',
        accountsChecksum(row.accounts, accountsFields(20600, Number(row.line), Number(row.events), row.tx_parts, null)),
      ]);
    }, database);
    const partition = new PostgresPartition(target('sealed'), 0, 1, { keys: sealed });
    const failure = await ShardEngine.open(partition).then(
      () => undefined,
      (error: unknown) => error,
    );
    await partition.close();
    expect((failure as { exitCode?: number }).exitCode).toBe(2);
  });

  const refusals: [string, string, RegExp][] = [
    [
      'a damaged delta part',
      "UPDATE payments.snapshot_parts SET data = '\\x00' WHERE journal = $1 AND seq = 20600",
      /snapshot at seq 20600 fails its checksum/,
    ],
    [
      'a delta part with one byte flipped (its length still whole rows)',
      'UPDATE payments.snapshot_parts SET data = set_byte(data, 5, get_byte(data, 5) # 1) WHERE journal = $1 AND seq = 20600 AND part = 0',
      /snapshot at seq 20600 fails its checksum/,
    ],
    [
      'a delta re-pointed at another base',
      'UPDATE payments.snapshots SET base_seq = 19500 WHERE journal = $1 AND seq = 20600',
      /snapshot at seq 20600 fails its checksum/,
    ],
    [
      'a delta turned into a full snapshot',
      'UPDATE payments.snapshots SET base_seq = NULL WHERE journal = $1 AND seq = 20600',
      /snapshot at seq 20600 fails its checksum/,
    ],
    [
      'a delta whose base is gone',
      'DELETE FROM payments.snapshots WHERE journal = $1 AND seq = 20000',
      /layered on a full snapshot at seq 20000 that the journal does not hold/,
    ],
  ];
  it('whose base is gone is refused by replay and reseal too, which read no index', async () => {
    await layeredJournal('orphan');
    await withAdmin(
      (c) => c.query('DELETE FROM payments.snapshots WHERE journal = $1 AND seq = 20000', ['orphan']),
      database,
    );
    const orphaned = /layered on a full snapshot at seq 20000 that the journal does not hold/;
    const url = urlFor(database, { params: { journal: 'orphan' } });
    await expect(replayPostgres(url)).rejects.toThrow(orphaned);
    await expect(resealPostgres(target('orphan'), [], journalKey(new Uint8Array(32).fill(9)))).rejects.toThrow(
      orphaned,
    );
  });

  for (const [what, edit, message] of refusals)
    it(`is refused with exit 2, not misread: ${what}`, async () => {
      const journal = `refused-${refusals.findIndex((r) => r[0] === what)}`;
      await layeredJournal(journal);
      await withAdmin((c) => c.query(edit, [journal]), database);
      const partition = new PostgresPartition(target(journal), 0, 1);
      const failure = await ShardEngine.open(partition).then(
        () => undefined,
        (error: unknown) => error,
      );
      await partition.close();
      expect(String((failure as Error).message)).toMatch(message);
      expect(failure).toBeInstanceOf(JournalCorrupt);
      expect((failure as JournalCorrupt).exitCode).toBe(2);
      expect(String((failure as Error).message)).toMatch(message);
    });
});
