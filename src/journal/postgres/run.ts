/**
 * A run's journal in PostgreSQL, as the pipeline uses a journal directory: open it for an input
 * (create, or check the input and resume), save progress, close. Replay and inspect read it through
 * the partitions, read-only.
 */
import { JournalCorrupt } from '../../errors.js';
import { inspectFlushChars } from '../../constants.js';
import { txTypes } from '../../domain/transaction.js';
import { recordAt, shownAmount } from '../record-codec.js';
import { reasonOf } from '../../domain/rejection.js';
import { formatUnits } from '../../domain/money.js';
import { fingerprint, inputChangedWhileRead, type Manifest } from '../manifest.js';
import { AccountReplay, type ReplayResult } from '../replay-fold.js';
import type { JournalRecord } from '../../engine/journal-port.js';
import { readerSession, type RetryingConnection } from './connection.js';
import { PostgresPartition } from './partition.js';
import { PostgresJournalStore, type PostgresManifest } from './store.js';
import { parsePostgresUrl } from './url.js';
import { keyForJournal, type JournalKeyring } from '../seal.js';

export interface PostgresRun {
  readonly manifest: Manifest;
  readonly resumed: boolean;
  /** Stores the manifest's progress (committedLine, complete). */
  save(manifest: Manifest): Promise<void>;
  close(): Promise<void>;
}

export async function openPostgresRun(
  location: string,
  inputPath: string,
  shards: number,
  keys: JournalKeyring = [],
  delimiter = ',',
): Promise<PostgresRun> {
  // Holds the journal for the run, from before it is created: one run per journal.
  const store = new PostgresJournalStore(parsePostgresUrl(location), { holdJournal: true, keys });
  try {
    const input = { name: inputPath, ...(await fingerprint(inputPath, delimiter)) };
    const { manifest, resumed } = await store.openRun(input, shards);
    return {
      manifest,
      resumed,
      save: (m) => store.update(m.committedLine, m.complete),
      close: () => store.close(),
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** An existing journal (replay, inspect): exit 2 when the database holds none by that name. */
export async function existingPostgresJournal(
  location: string,
  keys: JournalKeyring = [],
  session?: RetryingConnection,
): Promise<PostgresManifest> {
  const store = new PostgresJournalStore(parsePostgresUrl(location), { readOnly: true, session });
  try {
    const manifest = await store.read();
    // A sealed journal needs its key: exit 2 naming its key id before any partition is read.
    if (manifest.seal) keyForJournal(store.where, manifest.seal, keys);
    return manifest;
  } finally {
    await store.close();
  }
}

/** Runs `fn` on one partition opened read-only (no lock: a running writer is not disturbed). */
async function withPostgresPartition<T>(
  location: string,
  shard: number,
  shards: number,
  keys: JournalKeyring,
  session: RetryingConnection,
  fn: (partition: PostgresPartition) => Promise<T>,
): Promise<T> {
  const partition = new PostgresPartition(parsePostgresUrl(location), shard, shards, { readOnly: true, keys, session });
  try {
    await partition.load();
    return await fn(partition);
  } finally {
    await partition.close();
  }
}

/** Accounts as they stood after input line `asOfLine`: newest snapshot at or before it, then the records. */
export async function replayPostgres(
  location: string,
  asOfLine = Number.POSITIVE_INFINITY,
  keys: JournalKeyring = [],
): Promise<ReplayResult> {
  const session = readerSession(parsePostgresUrl(location)); // one for every partition, in turn
  try {
    const manifest = await existingPostgresJournal(location, keys, session);
    if (manifest.input.crc === inputChangedWhileRead)
      throw new JournalCorrupt(
        `journal ${parsePostgresUrl(location).display}: a submit found its input (${manifest.input.name}) changed while it read it, so its batches are of no one file and it gives no accounts (inspect still shows its records)`,
      );
    const replay = new AccountReplay();
    for (let shard = 0; shard < manifest.shards; shard++) {
      await withPostgresPartition(location, shard, manifest.shards, keys, session, async (partition) => {
        const snapshot = await partition.snapshotAsOf(asOfLine, false); // accounts only: no index is rebuilt
        replay.partition(partition.extent.lastLine, snapshot?.accounts);
        for await (const record of partition.records(snapshot?.seq ?? 0, asOfLine)) replay.apply(record);
      });
    }
    return replay.result(manifest);
  } finally {
    await session.drop();
  }
}

/** The CSV line `inspect` prints for a record (header: partition,seq,line,record,type,client,tx,amount,reason). */
function inspectLine(shard: number, r: JournalRecord, csvField: (text: string) => string): string {
  const amount = shownAmount(r);
  const record = r.event ? r.event.type : 'Rejected';
  const reason = r.reason < 0 ? '' : csvField(reasonOf(r.reason));
  return `${shard},${r.seq},${r.line},${record},${txTypes[r.typeCode]},${r.client},${r.tx},${amount === undefined ? '' : formatUnits(amount)},${reason}\n`;
}

/** Every record of the given partitions (only `client`'s when given), as CSV text in pieces. */
export async function* inspectPostgres(
  location: string,
  shardsOf: (shards: number) => readonly number[],
  client: number | undefined,
  csvField: (text: string) => string,
  flushChars = inspectFlushChars,
  keys: JournalKeyring = [],
): AsyncGenerator<string> {
  const session = readerSession(parsePostgresUrl(location)); // one for every partition, in turn
  try {
    const manifest = await existingPostgresJournal(location, keys, session);
    for (const shard of shardsOf(manifest.shards)) {
      const partition = new PostgresPartition(parsePostgresUrl(location), shard, manifest.shards, {
        readOnly: true,
        keys,
        session,
      });
      try {
        await partition.load();
        let text = '';
        // Column by column: a client's few records are found without an object for every record.
        for await (const { firstSeq, count, columns } of partition.batchColumns(0)) {
          for (let i = 0; i < count; i++) {
            if (client !== undefined && columns.clients[i] !== client) continue;
            text += inspectLine(shard, recordAt(columns, i, firstSeq), csvField);
          }
          if (text.length > flushChars) {
            yield text;
            text = '';
          }
        }
        if (text.length > 0) yield text;
      } finally {
        await partition.close();
      }
    }
  } finally {
    await session.drop();
  }
}
