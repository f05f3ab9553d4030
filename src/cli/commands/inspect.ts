/** `payments inspect --journal DIR [--client C]`: a client's (or every) journal record, in order, for audit. */
import type { Argv, CommandModule } from 'yargs';
import { formatUnits } from '../../domain/money.js';
import { reasonOf } from '../../domain/rejection.js';
import { txTypes } from '../../domain/transaction.js';
import { csvField } from '../../io/csv-writer.js';
import { usageError } from '../../errors.js';
import { readManifest } from '../../journal/manifest.js';
import { JournalCorrupt } from '../../errors.js';
import { eventKinds, rejectedKind } from '../../journal/record-codec.js';
import { openPartitionForReading, readRecords } from '../../journal/sqlite-journal.js';
import { shardOf } from '../../pool/shard.js';
import type { CliIo } from '../io.js';

interface InspectArgs {
  journal: string;
  client?: number;
}

export function inspectCommand(io: CliIo): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect',
    describe: "List a client's journal records (or every record) in order, as CSV",
    builder: (y: Argv) =>
      y
        .option('journal', { type: 'string', demandOption: true, describe: 'journal directory written by --journal' })
        .option('client', {
          type: 'number',
          describe: 'only this client (its partition alone is read)',
        }) as unknown as Argv<InspectArgs>,
    handler: async (argv) => {
      const { client } = argv;
      if (client !== undefined && (!Number.isInteger(client) || client < 0 || client > 65535))
        throw usageError(`--client must be a whole number from 0 to 65535 (got ${client})`, { usageHint: true });
      const manifest = await readManifest(argv.journal);
      if (manifest === undefined) throw usageError(`${argv.journal}: no journal here (no manifest.json)`);
      const shards =
        client === undefined
          ? Array.from({ length: manifest.shards }, (_, s) => s)
          : [shardOf(client, manifest.shards)];
      await io.stdout('partition,seq,line,record,type,client,tx,amount,reason\n');
      for (const shard of shards) {
        try {
          const { db, where } = openPartitionForReading(argv.journal, shard);
          try {
            let text = '';
            for (const r of readRecords(db, where)) {
              if (client !== undefined && r.client !== client) continue;
              const record = r.kind === rejectedKind ? 'Rejected' : eventKinds[r.kind]!;
              const amount = r.kind === rejectedKind && r.typeCode > 1 ? '' : formatUnits(r.eventAmount);
              text += `${shard},${r.seq},${r.line},${record},${txTypes[r.typeCode]},${r.client},${r.tx},${amount},${r.reason < 0 ? '' : csvField(reasonOf(r.reason))}\n`;
              if (text.length > 1 << 16) {
                await io.stdout(text);
                text = '';
              }
            }
            await io.stdout(text);
          } finally {
            db.close();
          }
        } catch (error) {
          if (error instanceof JournalCorrupt) throw usageError(error.message);
          throw error;
        }
      }
    },
  };
}
