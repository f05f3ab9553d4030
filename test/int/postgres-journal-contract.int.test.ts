/**
 * The journal contract (src/engine/journal-port.ts), one suite run once per backend: the null
 * journal (in memory), SQLite and PostgreSQL (a real server). The null journal records nothing by
 * design (recordsNothing), so only the clauses that hold without a history apply to it: a fresh
 * partition recovers empty, a commit of nothing does nothing, close is safe twice, and it never
 * answers for a line. Every other clause runs on the durable backends, against their storage.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshotPartTxs } from '../../src/constants.js';
import { reasonCode } from '../../src/domain/rejection.js';
import { TxTypeCode } from '../../src/domain/transaction.js';
import type { JournalPartition } from '../../src/engine/journal-port.js';
import { ShardEngine } from '../../src/engine/shard-engine.js';
import { JournalCorrupt } from '../../src/errors.js';
import { NullJournal } from '../../src/journal/null-journal.js';
import {
  drain,
  postgresBackend,
  proofAt,
  range,
  recordLine,
  sqliteBackend,
  writeLines,
  type Backend,
  type StoredPartition,
} from '../helpers/journal-backends.js';
import { accountsOf, applyAll, batchesOf, history, reference, type Row } from '../helpers/journal-history.js';
import { freshDatabase } from '../helpers/postgres.js';

let database = '';
beforeAll(async () => {
  database = await freshDatabase('contract');
});

// Each durable backend also sealed (--journal-key-file): every clause holds for a sealed journal too.
const durable: Backend[] = [
  sqliteBackend(),
  postgresBackend(() => database),
  sqliteBackend(undefined, true),
  postgresBackend(() => database, true),
  // Journals in the formats older versions wrote (columns codec, whole snapshots only) are still
  // read and resumed in their own format.
  sqliteBackend(undefined, false, 3),
  sqliteBackend(undefined, true, 4),
];
const memory = { name: 'memory (null journal)', fresh: async () => ({ open: () => new NullJournal() }) };
const all: { name: string; fresh(): Promise<{ open(): JournalPartition }> }[] = [memory, ...durable];

/** Opens and recovers a partition; returns it with its recovery and its tail read. */
async function reopen(stored: { open(): JournalPartition }) {
  const p = stored.open();
  const recovery = await p.recover();
  return { p, recovery, tail: await drain(recovery.tail) };
}

async function refusal(promise: Promise<unknown>): Promise<JournalCorrupt> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JournalCorrupt);
  expect((error as JournalCorrupt).exitCode).toBe(2);
  return error as JournalCorrupt;
}

/** Opens `stored` and recovers it whole, which must be refused. */
function recoveryRefusal(stored: { open(): JournalPartition }): Promise<JournalCorrupt> {
  return refusal(
    (async () => {
      const p = stored.open();
      try {
        await drain((await p.recover()).tail);
      } finally {
        await p.close();
      }
    })(),
  );
}

describe.each(all)('every journal partition: $name', (backend) => {
  it('recovers a fresh partition empty', async () => {
    const { p, recovery, tail } = await reopen(await backend.fresh());
    expect(recovery).toMatchObject({
      snapshot: undefined,
      lastSeq: 0,
      resumeLine: 0,
      torn: undefined,
      inputProofs: [],
    });
    expect(tail).toEqual([]);
    await p.close();
  });

  it('does nothing on a commit with nothing recorded, and closes twice safely', async () => {
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    await p.commit(proofAt(1));
    await p.close();
    await p.close();
    const again = await reopen(stored); // the second close released nothing twice: it opens again
    expect(again.recovery).toMatchObject({ lastSeq: 0, resumeLine: 0, inputProofs: [] });
    await again.p.close();
    await again.p.close();
  });

  it('keeps records unless it says it keeps none, and then never answers for a line', async () => {
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    await writeLines(p, 1, 3, 3);
    await p.close();
    const { p: again, recovery } = await reopen(stored);
    if (again.recordsNothing === true) {
      expect(recovery.lastSeq).toBe(0);
      expect(() => again.recordedOutcomes(1, 3)).toThrow(/nothing recorded for line 1/);
    } else {
      expect(recovery.lastSeq).toBe(3);
      expect((await again.recordedOutcomes(1, 3)).map((r) => r.line)).toEqual([1, 2, 3]);
    }
    await again.close();
  });
});

// The durable clauses, by theme (one describe.each each).
describe.each(durable)('a durable journal partition, recovery and numbering: $name', (backend) => {
  it('recovers from a snapshot plus the tail after it, to the state of an uninterrupted run', async () => {
    const rows = history(600);
    const batches = batchesOf(rows, 50);
    const want = await reference(rows, 50);
    const stored = await backend.fresh();
    const first = await ShardEngine.open(stored.open());
    await applyAll(first.engine, batches.slice(0, 10));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await applyAll(first.engine, batches.slice(10, 16)); // the tail after the snapshot
    await first.engine.journal.close(); // a crash: no final snapshot

    const second = await ShardEngine.open(stored.open());
    expect(second.recovery.snapshotSeq).toBeGreaterThan(0);
    expect(second.recovery.recordsReplayed).toBe(second.recovery.records - second.recovery.snapshotSeq);
    expect(second.recovery.recordsReplayed).toBeGreaterThan(0);
    expect(second.recovery.resumeLine).toBe(2 + 16 * 50 - 1);
    // The resumed run gets the whole input again: the first 16 batches are answered from the journal.
    const rejected = await applyAll(second.engine, batchesOf(rows, 50));
    expect(rejected).toEqual(want.rejected);
    expect(accountsOf(second.engine)).toEqual(want.accounts);
    expect(second.engine.records).toBe(want.records);
    expect(second.engine.events).toBe(want.events);
    await second.engine.journal.close();
    // Nothing the resumed run was answered for was stored again.
    expect((await stored.storedRecords()).map(([, line]) => line)).toEqual(range(2, 2 + rows.length - 1));
  });

  it('numbers records gaplessly from 1 across commits and a reopen, each with its row and outcome', async () => {
    const stored = await backend.fresh();
    const first = await reopen(stored);
    await writeLines(first.p, 1, 250, 100);
    await first.p.commit(); // nothing recorded: takes no number
    await first.p.close();
    const second = await reopen(stored);
    expect(second.recovery).toMatchObject({ lastSeq: 250, resumeLine: 250, snapshot: undefined });
    await writeLines(second.p, 251, 300, 20);
    await second.p.close();

    const { p, recovery, tail } = await reopen(stored);
    expect(recovery.lastSeq).toBe(300);
    expect(tail.map((r) => r.seq)).toEqual(range(1, 300));
    expect(tail.map((r) => r.line)).toEqual(range(1, 300));
    expect(tail[9]).toMatchObject({
      line: 10,
      typeCode: 1,
      client: 3,
      tx: 10,
      amount: 1000,
      reason: 7,
      event: undefined,
    });
    expect(tail[260]).toMatchObject({
      line: 261,
      reason: -1,
      event: { type: 'Deposited', client: 2, tx: 261, amount: 26100 },
    });
    expect(await stored.storedRecords()).toEqual(range(1, 300).map((n) => [n, n]));
    await p.close();
  });
});

describe.each(durable)('a durable journal partition, commits and idempotency: $name', (backend) => {
  it('commits all or nothing: a batch recorded but not committed is gone after a reopen', async () => {
    const stored = await backend.fresh();
    const first = await reopen(stored);
    await writeLines(first.p, 1, 40, 40);
    for (const line of range(41, 60)) recordLine(first.p, line);
    await first.p.close(); // a crash before the commit
    const second = await reopen(stored);
    expect(second.recovery).toMatchObject({ lastSeq: 40, resumeLine: 40, inputProofs: [proofAt(40)] });
    expect(second.tail.map((r) => r.line)).toEqual(range(1, 40));
    expect(await stored.storedRecords()).toEqual(range(1, 40).map((n) => [n, n]));
    await writeLines(second.p, 41, 60, 20); // the resumed run applies them again, numbered on
    await second.p.close();
    expect(await stored.storedRecords()).toEqual(range(1, 60).map((n) => [n, n]));
  });

  it('refuses to record a line it already holds, and never keeps a second copy', async () => {
    const stored = await backend.fresh();
    const first = await reopen(stored);
    await writeLines(first.p, 1, 30, 10);
    await first.p.close();
    for (const line of [1, 11]) {
      const { p } = await reopen(stored);
      recordLine(p, line); // the first line of a batch it holds
      recordLine(p, line + 1);
      await expect((async () => p.commit(proofAt(line + 1)))()).rejects.toThrow();
      await p.close();
    }
    const { p, recovery } = await reopen(stored);
    expect(recovery.lastSeq).toBe(30);
    await p.close();
    expect(await stored.storedRecords()).toEqual(range(1, 30).map((n) => [n, n]));
  });

  it('refuses to record a line inside a batch it holds, or one committed in this session', async () => {
    const stored = await backend.fresh();
    const first = await reopen(stored);
    await writeLines(first.p, 1, 30, 10);
    recordLine(first.p, 30); // the last line it committed, in the same session
    await expect((async () => first.p.commit(proofAt(30)))()).rejects.toThrow();
    await first.p.close();
    const { p } = await reopen(stored);
    recordLine(p, 15); // inside the batch of lines 11-20
    await expect((async () => p.commit(proofAt(15)))()).rejects.toThrow();
    await p.close();
    expect(await stored.storedRecords()).toEqual(range(1, 30).map((n) => [n, n]));
  });
});

describe.each(durable)('a durable journal partition, answers for recorded lines: $name', (backend) => {
  it('answers recordedOutcomes with exactly the records of a line range', async () => {
    const stored = await backend.fresh();
    const first = await reopen(stored);
    await writeLines(first.p, 1, 100, 30);
    await first.p.close();
    const { p } = await reopen(stored);
    // Ranges in input order, as a resumed run asks: inside a batch, across batch ends, to the end.
    const ranges: [number, number][] = [
      [1, 1],
      [2, 29],
      [30, 31],
      [32, 75],
      [76, 100],
    ];
    for (const [firstLine, lastLine] of ranges) {
      const got = await p.recordedOutcomes(firstLine, lastLine);
      expect(got.map((r) => r.line)).toEqual(range(firstLine, lastLine));
      expect(got.map((r) => r.seq)).toEqual(range(firstLine, lastLine));
    }
    expect(await p.recordedOutcomes(101, 101)).toEqual([]); // past the last line recorded
    await p.close();
  });

  it('refuses a resumed input that differs from the recorded rows (JournalCorrupt, exit 2)', async () => {
    const rows = history(100);
    const stored = await backend.fresh();
    const first = await ShardEngine.open(stored.open());
    await applyAll(first.engine, batchesOf(rows, 30));
    await first.engine.journal.close();
    const changed = rows.map((r, i): Row => (i === 42 ? [r[0], r[1], r[2], r[3] + 1] : r));
    const second = await ShardEngine.open(stored.open());
    const error = await refusal(applyAll(second.engine, batchesOf(changed, 30)));
    expect(error.message).toMatch(/does not match the input at line 44/);
    await second.engine.journal.close();
  });
});

/** One index part holding `keys` (each a deposit of 500). */
function part(keys: number[]) {
  return {
    keys: new Uint32Array(keys),
    infos: new Uint32Array(keys.length).fill(1),
    amounts: new Float64Array(keys.length).fill(500),
  };
}

describe.each(durable)('a durable journal partition, snapshots: $name', (backend) => {
  it('recovers the newest snapshot whole, then the records after it', async () => {
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    const state = (events: number, keys: number[]) => ({
      accounts: [{ client: 3, state: { available: 500, held: 20, locked: true } }],
      events,
      *txParts() {
        yield { keys: new Uint32Array(keys), infos: new Uint32Array([1, 2]), amounts: new Float64Array([500, 600]) };
      },
    });
    await writeLines(p, 1, 200, 100);
    await p.writeSnapshot(state(160, [1, 2]));
    await writeLines(p, 201, 300, 100);
    await p.writeSnapshot(state(240, [5, 6]));
    await p.writeSnapshot(state(999, [7, 8])); // nothing recorded since the last one: does nothing
    await writeLines(p, 301, 350, 100);
    await p.close();
    const { p: again, recovery, tail } = await reopen(stored);
    expect(recovery.snapshot).toMatchObject({ seq: 300, line: 300, events: 240 });
    expect(recovery.snapshot!.accounts).toEqual([{ client: 3, state: { available: 500, held: 20, locked: true } }]);
    expect(recovery.snapshot!.txParts.map((part) => [...part.keys])).toEqual([[5, 6]]);
    expect(tail.map((r) => r.line)).toEqual(range(301, 350));
    await again.close();
  });

  it("keeps a finished partition's accounts-alone snapshot apart: a recovery replays from the last whole one", async () => {
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    const accounts = (available: number) => [{ client: 3, state: { available, held: 0, locked: false } }];
    await writeLines(p, 1, 200, 100);
    await p.writeSnapshot({ accounts: accounts(1), events: 160, txParts: () => [part([1, 2])] });
    await writeLines(p, 201, 300, 100);
    await p.writeSnapshot({ accounts: accounts(2), events: 240, txParts: () => [part([5, 6])], accountsOnly: true });
    await p.close();
    expect(await stored.snapshotParts()).toBe(backend.accountsOnlySnapshots ? -1 : 1);
    const { p: again, recovery, tail } = await reopen(stored);
    if (backend.accountsOnlySnapshots) {
      // The index is not in the last snapshot: the whole one before it, and the records after.
      expect(recovery.snapshot).toMatchObject({ seq: 200, line: 200, events: 160 });
      expect(recovery.snapshot!.txParts.map((t) => [...t.keys])).toEqual([[1, 2]]);
      expect(tail.map((r) => r.line)).toEqual(range(201, 300));
    } else {
      expect(recovery.snapshot).toMatchObject({ seq: 300, line: 300, events: 240 });
      expect(recovery.snapshot!.txParts.map((t) => [...t.keys])).toEqual([[5, 6]]);
      expect(tail).toEqual([]);
    }
    await again.close();
  });

  it('refuses an accounts-alone snapshot whose recorded fields were edited, though a recovery does not use it', async () => {
    if (!backend.accountsOnlySnapshots) return;
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    await writeLines(p, 1, 100, 40);
    await p.writeSnapshot({ accounts: [], events: 80, txParts: () => [], accountsOnly: true });
    await p.close();
    await stored.editSnapshotEvents();
    const error = await recoveryRefusal(stored);
    expect(error.message).toMatch(backend.refusals.editedSnapshot);
  });

  it('writes and recovers a snapshot of several index parts', async () => {
    const n = snapshotPartTxs + 1000; // two parts
    const rows: Row[] = Array.from({ length: n }, (_, i) => [TxTypeCode.deposit, 0, i + 1, 1]);
    rows.push([TxTypeCode.dispute, 0, 100, 0]); // a tx in the first part
    rows.push([TxTypeCode.dispute, 0, n - 100, 0]); // a tx in the second part
    const stored = await backend.fresh();
    const first = await ShardEngine.open(stored.open());
    await applyAll(first.engine, batchesOf(rows, 4096));
    await first.engine.journal.writeSnapshot(first.engine.state());
    await first.engine.journal.close();
    expect(await stored.snapshotParts()).toBe(2);

    const second = await ShardEngine.open(stored.open());
    expect(second.recovery.recordsReplayed).toBe(0);
    expect(second.engine.storedTxCount).toBe(n);
    // The recovered index still knows the disputed status of both txs.
    const after = batchesOf(
      [
        [TxTypeCode.resolve, 0, 100, 0],
        [TxTypeCode.dispute, 0, n - 100, 0],
      ],
      10,
      n + 4,
    );
    expect(await applyAll(second.engine, after)).toEqual([[1, reasonCode('already_disputed')]]);
    await second.engine.journal.close();
  });
});

describe.each(durable)('a durable journal partition, damage and input proofs: $name', (backend) => {
  describe('refuses damaged storage with JournalCorrupt (exit 2) naming the partition', () => {
    /** A partition of lines 1-100 in batches of 40 (seq 1, 41, 81), damaged by `damage`. */
    async function damaged(damage: (stored: StoredPartition) => Promise<void>, snapshot = false) {
      const stored = await backend.fresh();
      const { p } = await reopen(stored);
      await writeLines(p, 1, 100, 40);
      if (snapshot) await p.writeSnapshot({ accounts: [], events: 80, txParts: () => [] });
      await p.close();
      await damage(stored);
      return recoveryRefusal(stored);
    }

    it('a record changed in a batch', async () => {
      const error = await damaged((s) => s.changeRecord(41));
      expect(error.message).toMatch(backend.refusals.changedRecord);
    });

    it('a batch deleted from the sequence', async () => {
      const error = await damaged((s) => s.deleteBatch(41));
      expect(error.message).toMatch(backend.refusals.deletedBatch);
    });

    it("a snapshot's recorded fields edited", async () => {
      const error = await damaged((s) => s.editSnapshotEvents(), true);
      expect(error.message).toMatch(backend.refusals.editedSnapshot);
    });
  });

  it('stores the input proof of each batch and recovers them in commit order', async () => {
    const stored = await backend.fresh();
    const { p } = await reopen(stored);
    await writeLines(p, 1, 20, 10);
    recordLine(p, 21);
    await p.commit(); // a batch committed without a proof
    await writeLines(p, 22, 30, 10);
    await p.close();
    const { p: again, recovery } = await reopen(stored);
    expect(recovery.inputProofs).toEqual([proofAt(10), proofAt(20), undefined, proofAt(30)]);
    await again.close();
  });
});

// Only where a commit's outcome can be unknown to its writer: a SQLite commit is one local statement.
describe.each(durable.filter((b) => b.losingCommit !== undefined))(
  'a journal partition whose commit is retried after a lost connection: $name',
  (backend) => {
    for (const when of ['after-commit', 'before-commit'] as const) {
      it(`applies nothing twice when the connection is lost ${when.replace('-', ' ')}`, async () => {
        const stored = await backend.fresh();
        const p = backend.losingCommit!(stored, when);
        await p.recover();
        await writeLines(p, 1, 50, 50);
        await p.settle(); // commit() may return once the batch is sent; settle() once it is durable
        expect(p.lost).toBe(true);
        expect(p.retries).toBeGreaterThan(0);
        await writeLines(p, 51, 80, 50);
        await p.close();
        expect(await stored.storedRecords()).toEqual(range(1, 80).map((n) => [n, n]));
        expect(await stored.batchCount()).toBe(2);
      });
    }
  },
);
