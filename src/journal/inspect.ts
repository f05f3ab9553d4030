/** A journal's records in order, as CSV lines, for audit (`payments inspect`). */
import { shardOf } from '../domain/ids.js';
import { formatUnits } from '../domain/money.js';
import { reasonOf } from '../domain/rejection.js';
import { txTypes } from '../domain/transaction.js';
import { csvField } from '../io/csv-writer.js';
import { inspectFlushChars } from '../constants.js';
import { shownAmount } from './record-codec.js';
import { existingManifest, PartitionsOfOneRun, readerSeal } from './replay.js';
import type { JournalKeyring } from './seal.js';
import { readTail } from './sqlite/recovery.js';
import { openPartition, withPartition } from './sqlite/reader.js';
import { isPostgresUrl } from './postgres/url.js';

export const inspectHeader = 'partition,seq,line,record,type,client,tx,amount,reason\n';

/**
 * Every record the partitions hold (all of them: an unfinished run's included), or only `client`'s
 * (reading its partition alone), as CSV text in pieces of about inspectFlushChars.
 */
export async function* inspectJournal(
  dir: string,
  client: number | undefined,
  keys: JournalKeyring = [],
): AsyncGenerator<string> {
  if (isPostgresUrl(dir)) {
    const only = (shards: number) =>
      client === undefined ? Array.from({ length: shards }, (_, s) => s) : [shardOf(client, shards)];
    const { inspectPostgres } = await import('./postgres/run.js');
    yield* inspectPostgres(dir, only, client, csvField, inspectFlushChars, keys);
    return;
  }
  const manifest = await existingManifest(dir);
  const sealed = readerSeal(dir, manifest, keys);
  const shards =
    client === undefined ? Array.from({ length: manifest.shards }, (_, s) => s) : [shardOf(client, manifest.shards)];
  // Every partition checked as this journal's before a line is printed: exit 2 prints nothing.
  const partitions = new PartitionsOfOneRun(manifest);
  for (let shard = 0; shard < manifest.shards; shard++)
    withPartition(dir, shard, manifest, sealed, (reader) => partitions.check(shard, reader.db, reader.where));
  for (const shard of shards) {
    const reader = openPartition(dir, shard, manifest, sealed);
    try {
      let text = '';
      for (const r of readTail(reader.db, reader.where, 0, Number.POSITIVE_INFINITY, reader)) {
        if (client !== undefined && r.client !== client) continue;
        const amount = shownAmount(r);
        const record = r.event ? r.event.type : 'Rejected';
        const reason = r.reason < 0 ? '' : csvField(reasonOf(r.reason));
        text += `${shard},${r.seq},${r.line},${record},${txTypes[r.typeCode]},${r.client},${r.tx},${amount === undefined ? '' : formatUnits(amount)},${reason}\n`;
        if (text.length > inspectFlushChars) {
          reader.check(); // nothing is printed that a run wrote while it was read
          yield text;
          text = '';
        }
      }
      reader.check();
      if (text.length > 0) yield text;
    } finally {
      reader.close();
    }
  }
}
