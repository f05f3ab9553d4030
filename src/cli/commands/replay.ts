/**
 * `payments replay --journal DIR [--as-of-line N]`: accounts rebuilt from the journal alone, as
 * they stood after input line N (default: the whole journal). The same evolve as live processing.
 */
import type { Argv, CommandModule } from 'yargs';
import type { AccountState } from '../../domain/account.js';
import { formatAccounts } from '../../io/csv-writer.js';
import { usageError } from '../../errors.js';
import { readManifest } from '../../journal/manifest.js';
import { JournalCorrupt } from '../../errors.js';
import { openPartitionForReading, recoverPartition } from '../../journal/sqlite-journal.js';
import { createLogger, type LogLevel } from '../../ops/logger.js';
import type { CliIo } from '../io.js';

interface ReplayArgs {
  journal: string;
  asOfLine?: number;
  logLevel: LogLevel;
}

export function replayCommand(io: CliIo): CommandModule<object, ReplayArgs> {
  return {
    command: 'replay',
    describe: 'Rebuild and print the accounts from a journal alone (no input file)',
    builder: (y: Argv) =>
      y
        .option('journal', { type: 'string', demandOption: true, describe: 'journal directory written by --journal' })
        .option('as-of-line', {
          type: 'number',
          describe: 'the accounts as they stood after this input line',
        }) as unknown as Argv<ReplayArgs>,
    handler: async (argv) => {
      if (argv.asOfLine !== undefined && (!Number.isSafeInteger(argv.asOfLine) || argv.asOfLine < 0)) {
        throw usageError(`--as-of-line must be a whole number ≥ 0 (got ${argv.asOfLine})`, { usageHint: true });
      }
      const log = createLogger({ level: argv.logLevel, pretty: io.stderrIsTty });
      const accounts = await replayAccounts(argv.journal, argv.asOfLine, (message, fields) =>
        log.info(fields, message),
      );
      await io.stdout(formatAccounts([...accounts].map(([client, a]) => ({ client, ...a }))));
    },
  };
}

export async function replayAccounts(
  dir: string,
  asOfLine: number | undefined,
  note: (message: string, fields: Record<string, unknown>) => void = () => undefined,
): Promise<Map<number, AccountState>> {
  const manifest = await readManifest(dir);
  if (manifest === undefined) throw usageError(`${dir}: no journal here (no manifest.json); write one with --journal`);
  let asOf = asOfLine ?? Number.POSITIVE_INFINITY;
  if (asOfLine === undefined && !manifest.complete) {
    asOf = manifest.committedLine;
    note(
      `the journal's run did not finish: showing the accounts after line ${asOf}, the last line every shard applied`,
      { asOfLine: asOf },
    );
  }
  const started = performance.now();
  const accounts = new Map<number, AccountState>();
  let replayed = 0;
  for (let shard = 0; shard < manifest.shards; shard++) {
    try {
      const { db, where } = openPartitionForReading(dir, shard);
      try {
        const recovered = recoverPartition(db, where, asOf);
        for (const [client, state] of recovered.accounts) accounts.set(client, state);
        replayed += recovered.recordsReplayed;
      } finally {
        db.close();
      }
    } catch (error) {
      if (error instanceof JournalCorrupt) throw usageError(error.message);
      throw error;
    }
  }
  note('journal replayed', {
    partitions: manifest.shards,
    recordsReplayed: replayed,
    recoveryMs: Math.round(performance.now() - started),
  });
  return accounts;
}
