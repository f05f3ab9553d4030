/**
 * The durable journal backends as the journal contract suite (test/int/postgres-journal-contract)
 * drives them: each opens a fresh partition, opens it again (a restart: a new process would), and
 * reaches under the partition to read or damage what it stored. PostgreSQL needs the test server
 * of the `*-postgres` vitest projects (inject('postgres')).
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { AccountEvent } from '../../src/domain/account.js';
import type { JournalPartition, JournalRecord, Recovery, RowRef } from '../../src/engine/journal-port.js';
import type { InputProof } from '../../src/io/input-proof.js';
import { journalFormat, partitionPath } from '../../src/journal/format.js';
import { PostgresPartition } from '../../src/journal/postgres/partition.js';
import { storedBatch, storedColumns } from '../../src/journal/postgres/partition-read.js';
import { PostgresJournalStore, sealOfRow } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { decodeRecords, type StoredBatch } from '../../src/journal/record-codec.js';
import { checkMeta } from '../../src/journal/sqlite/schema.js';
import { SqliteJournal } from '../../src/journal/sqlite/writer.js';
import { urlFor, withAdmin } from './postgres.js';
import { randomBytes } from 'node:crypto';
import {
  journalKey,
  newJournalSealId,
  PartitionSeal,
  type JournalKey,
  type JournalSealInfo,
} from '../../src/journal/seal.js';

/** The key of the sealed backends (a fresh one per test process). */
export const testJournalKey: JournalKey = journalKey(randomBytes(32));

/** One partition's storage, under the partition's own code. */
export interface StoredPartition {
  /** Opens the partition: a second call after close is a restart. */
  open(): JournalPartition;
  /** (seq, line) of every record stored, in seq order, read straight from storage. */
  storedRecords(): Promise<[seq: number, line: number][]>;
  batchCount(): Promise<number>;
  /** Index parts of the newest snapshot, as stored. */
  snapshotParts(): Promise<number>;
  /** Changes one stored record of the batch that starts at `firstSeq`. */
  changeRecord(firstSeq: number): Promise<void>;
  deleteBatch(firstSeq: number): Promise<void>;
  /** Lowers the newest snapshot's stored event count by one. */
  editSnapshotEvents(): Promise<void>;
}

/** A partition that loses its connection once, around its first commit (outcome unknown to it). */
export interface LosingPartition extends JournalPartition {
  readonly lost: boolean;
  readonly retries: number;
  /** Waits until the batch in flight is durable. */
  settle(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  fresh(): Promise<StoredPartition>;
  /** How each damage is refused (every refusal is JournalCorrupt naming the partition). */
  readonly refusals: { changedRecord: RegExp; deletedBatch: RegExp; editedSnapshot: RegExp };
  /** A finished partition's last snapshot may hold its accounts alone (else it is written whole). */
  readonly accountsOnlySnapshots: boolean;
  /** A partition whose first commit loses its connection `when`; absent where that cannot happen. */
  losingCommit?(stored: StoredPartition, when: 'after-commit' | 'before-commit'): LosingPartition;
}

function sqliteStored(dir: string, seal: JournalSealInfo | undefined, formatVersion?: number): StoredPartition {
  const keys = [testJournalKey];
  const opener = seal && new PartitionSeal(seal, 0, testJournalKey, keys);
  const withDb = <T>(use: (db: Database.Database) => T): Promise<T> => {
    const db = new Database(partitionPath(dir, 0));
    try {
      return Promise.resolve(use(db));
    } finally {
      db.close();
    }
  };
  return {
    open: () => SqliteJournal.open(dir, 0, 1, seal && { seal, keys }, formatVersion),
    storedRecords: () =>
      withDb((db) => {
        const { codec } = checkMeta(db, 'test', 0, 1).format; // the partition's own codec
        return (db.prepare('SELECT * FROM batches ORDER BY first_seq').all() as StoredBatch[]).flatMap((b) =>
          decodeRecords(b, 'test', codec, opener).map((r): [number, number] => [r.seq, r.line]),
        );
      }),
    batchCount: () => withDb((db) => (db.prepare('SELECT count(*) AS n FROM batches').get() as { n: number }).n),
    snapshotParts: () =>
      withDb(
        (db) =>
          (db.prepare('SELECT tx_parts FROM snapshots ORDER BY seq DESC LIMIT 1').get() as { tx_parts: number })
            .tx_parts,
      ),
    changeRecord: (firstSeq) =>
      withDb((db) => {
        const { data } = db.prepare('SELECT data FROM batches WHERE first_seq = ?').get(firstSeq) as { data: Buffer };
        data[data.length - 1] ^= 1; // one bit of the last column
        db.prepare('UPDATE batches SET data = ? WHERE first_seq = ?').run(data, firstSeq);
      }),
    deleteBatch: (firstSeq) =>
      withDb((db) => {
        db.prepare('DELETE FROM batches WHERE first_seq = ?').run(firstSeq);
      }),
    editSnapshotEvents: () =>
      withDb((db) => {
        db.prepare('UPDATE snapshots SET events = events - 1 WHERE seq = (SELECT max(seq) FROM snapshots)').run();
      }),
  };
}

/**
 * `sealed`: every partition sealed with testJournalKey (as a journal made with --journal-key-file);
 * `formatVersion`: an older journal format to write (one made by an older version, resumed).
 */
export function sqliteBackend(
  root = mkdtempSync(join(tmpdir(), 'payments-contract-')),
  sealed = false,
  formatVersion?: number,
): Backend {
  let dirs = 0;
  const name = sealed ? 'SQLite sealed' : 'SQLite';
  return {
    name: formatVersion === undefined ? name : `${name}, format ${formatVersion}`,
    fresh: async () =>
      sqliteStored(
        join(root, `j${dirs++}`),
        sealed ? { journalId: newJournalSealId(), keyId: testJournalKey.id } : undefined,
        formatVersion,
      ),
    refusals: {
      changedRecord: /journal partition 0 .*batch at seq \d+ \(lines \d+-\d+\) fails its checksum/,
      deletedBatch: /journal partition 0 .*sequence numbers have gaps or overlaps/,
      editedSnapshot: /journal partition 0 .*snapshot at seq \d+ fails its checksum/,
    },
    accountsOnlySnapshots: formatVersion === undefined || journalFormat(formatVersion)?.accountsOnlySnapshots === true,
    // The batches' key is the first line only, and commit checks no lines: a batch that starts
    // inside a held one (or at the last line committed) is stored, and the next open refuses the
    // partition ("repeats line").
  };
}

/** Cuts its own connection once, at the moment `when` says, to make the outcome unknown. */
class CutOnce extends PostgresPartition implements LosingPartition {
  lost = false;
  when: 'after-commit' | 'before-commit' = 'after-commit';
  protected override async writeBatch(client: pg.Client, batch: StoredBatch) {
    if (!this.lost && this.when === 'before-commit') {
      this.lost = true;
      await client.query('BEGIN');
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())').catch(() => undefined);
    }
    await super.writeBatch(client, batch);
    if (!this.lost) {
      this.lost = true;
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }
  }
}

/**
 * The PostgreSQL backend over `database()` (a database of the test server, made in beforeAll);
 * `sealed`: every journal sealed with testJournalKey.
 */
export function postgresBackend(database: () => string, sealed = false): Backend {
  let journals = 0;
  const keys = sealed ? [testJournalKey] : [];
  const stored = (journal: string): StoredPartition & { target: ReturnType<typeof parsePostgresUrl> } => {
    const target = parsePostgresUrl(urlFor(database(), { params: { journal } }));
    const sql = async (text: string, params: unknown[] = []) =>
      withAdmin((c) => c.query(text, [journal, ...params]), database());
    return {
      target,
      open: () => new PostgresPartition(target, 0, 1, { keys }),
      storedRecords: async () => {
        const seal = sealOfRow((await sql('SELECT * FROM payments.journals WHERE name = $1')).rows[0]);
        const opener = seal && new PartitionSeal(seal, 0, testJournalKey, keys);
        return (
          await sql(
            `SELECT ${storedColumns} FROM payments.batches WHERE journal = $1 AND partition = 0 ORDER BY first_seq`,
          )
        ).rows.flatMap((r) =>
          decodeRecords(storedBatch(r) as StoredBatch, 'test', 'compact', opener).map((d): [number, number] => [
            d.seq,
            d.line,
          ]),
        );
      },
      batchCount: async () =>
        Number((await sql('SELECT count(*) AS n FROM payments.batches WHERE journal = $1')).rows[0].n),
      snapshotParts: async () =>
        (await sql('SELECT tx_parts FROM payments.snapshots WHERE journal = $1 ORDER BY seq DESC LIMIT 1')).rows[0]
          .tx_parts as number,
      changeRecord: async (firstSeq) => {
        // One bit of the last byte: the last record's amount.
        await sql(
          `UPDATE payments.batches SET data = set_byte(data, length(data) - 1, get_byte(data, length(data) - 1) # 1)
           WHERE journal = $1 AND first_seq = $2`,
          [firstSeq],
        );
      },
      deleteBatch: async (firstSeq) => {
        await sql('DELETE FROM payments.batches WHERE journal = $1 AND first_seq = $2', [firstSeq]);
      },
      editSnapshotEvents: async () => {
        await sql(
          'UPDATE payments.snapshots SET events = events - 1 WHERE journal = $1 AND seq = (SELECT max(seq) FROM payments.snapshots WHERE journal = $1)',
        );
      },
    };
  };
  return {
    name: sealed ? 'PostgreSQL sealed' : 'PostgreSQL',
    fresh: async () => {
      const s = stored(`${sealed ? 's' : 'j'}${journals++}`);
      const store = new PostgresJournalStore(s.target, { keys });
      await store.openRun({ name: 'input.csv', size: 1, headCrc: 0, tailCrc: 0 }, 1);
      await store.close();
      return s;
    },
    refusals: {
      changedRecord: /partition 0: the journal batch at seq \d+ \(lines \d+-\d+\) fails its checksum/,
      deletedBatch: /partition 0: sequence numbers have a gap or overlap/,
      // The snapshot's checksum covers the fields stored beside it (sealed, its associated data too).
      editedSnapshot: /partition 0: the snapshot at seq \d+ fails its checksum/,
    },
    accountsOnlySnapshots: true,
    losingCommit: (s, when) => {
      const p = new CutOnce((s as ReturnType<typeof stored>).target, 0, 1, { keys });
      p.when = when;
      return p;
    },
  };
}

/** Line L: a deposit of L units by client L % 7 with tx L, or (every 5th line) a rejected withdrawal. */
export function recordLine(p: JournalPartition, line: number): void {
  const row: RowRef = { line, typeCode: line % 5 === 0 ? 1 : 0, client: line % 7, tx: line, amount: line * 100 };
  if (line % 5 === 0) p.recordRejection(7, row);
  else p.recordEvent({ type: 'Deposited', client: row.client, tx: line, amount: row.amount } as AccountEvent, row);
}

/** The proof a test stores with the batch ending at `line`. */
export const proofAt = (line: number): InputProof => ({ end: line * 10, crc: line * 7 + 1 });

/** Records lines from..to, committing every `perBatch` lines and at the end, each with proofAt. */
export async function writeLines(p: JournalPartition, from: number, to: number, perBatch: number): Promise<void> {
  for (let line = from; line <= to; line++) {
    recordLine(p, line);
    if ((line - from + 1) % perBatch === 0 || line === to) await p.commit(proofAt(line));
  }
}

export async function drain(tail: Recovery['tail']): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of tail) out.push(r);
  return out;
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
