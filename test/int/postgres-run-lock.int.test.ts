/**
 * The run lock of a PostgreSQL journal in-process (run-lock.ts): a run's store holds the journal
 * from before it is created until it closes; a second run is refused at once, naming the holder;
 * a run whose connection was lost takes the journal back once a run that took it meanwhile lets go;
 * the cluster's stores and the readers take no lock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunError } from '../../src/errors.js';
import { PostgresJournalStore } from '../../src/journal/postgres/store.js';
import { parsePostgresUrl } from '../../src/journal/postgres/url.js';
import { freshDatabase, terminateBackends, urlFor } from '../helpers/postgres.js';

const input = { name: 'input.csv', size: 1234, headCrc: 1, tailCrc: 2 };
let database: string;

beforeAll(async () => {
  database = await freshDatabase('runlock_int');
});
afterAll(async () => {
  await terminateBackends('payments %', database);
});

const target = (journal: string) => parsePostgresUrl(urlFor(database, { params: { journal } }));
const runStore = (journal: string) => new PostgresJournalStore(target(journal), { holdJournal: true });

async function refusalOf(promise: Promise<unknown>): Promise<RunError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunError);
  return error as RunError;
}

describe('one run per journal', () => {
  it('a second run is refused (exit 2) while the first holds the journal, from before it exists; free once closed', async () => {
    const first = runStore('held');
    expect((await first.openRun(input, 2)).resumed).toBe(false);
    const second = runStore('held');
    const error = await refusalOf(second.openRun(input, 2));
    expect(error.exitCode).toBe(2);
    expect(error.kind).toBe('journal-busy');
    expect(error.message).toMatch(new RegExp(`journal=held is in use by another run \\(pid ${process.pid} on .+\\)$`));
    // Neither the cluster's store (no run lock) nor a reader is kept off.
    const cluster = new PostgresJournalStore(target('held'));
    expect((await cluster.openRun(input, 2)).resumed).toBe(true);
    await cluster.close();
    const reader = new PostgresJournalStore(target('held'), { readOnly: true });
    expect((await reader.read()).shards).toBe(2);
    await reader.close();
    await first.close();
    const third = runStore('held');
    expect((await third.openRun(input, 2)).resumed).toBe(true);
    await third.close();
    await second.close();
  });

  it('a run whose connection was lost takes the journal back once a run that took it meanwhile lets go', async () => {
    const first = runStore('relock');
    await first.openRun(input, 1);
    expect(await terminateBackends('payments run %', database)).toBe(1);
    const interloper = runStore('relock');
    expect((await interloper.openRun(input, 1)).resumed).toBe(true); // the journal was free
    const saving = first.update(5, false); // reconnects, and waits for the journal
    await interloper.close();
    await saving;
    const error = await refusalOf(runStore('relock').openRun(input, 1));
    expect(error.kind).toBe('journal-busy');
    await first.close();
  });

  it('a reader writes nothing: its session is read-only', async () => {
    const run = runStore('read');
    await run.openRun(input, 1);
    await run.close();
    const reader = new PostgresJournalStore(target('read'), { readOnly: true });
    await reader.read();
    const error = await reader.connection
      .run('writing', (c) => c.query("UPDATE payments.journals SET complete = true WHERE name = 'read'"))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(String(error)).toMatch(/read-only transaction/);
    await reader.close();
  });
});
