/**
 * What a message of a shard's subject is to the shard's runner, decided from its headers and body
 * alone (pure: unit-tested without servers):
 *   apply      the next batch of the shard's chain (its previous line is the last line handed on)
 *   duplicate  a batch the journal holds already (a re-delivery, or a copy a submit stored again)
 *   end        the end marker, whose last line closes the chain
 *   dead       not a valid batch of the run: stamped for another journal of the run's name (or not
 *              stamped at all), no batch number, bad headers, a body that does not
 *              decode, or one that fails a check (lines, types, amounts, clients of another shard);
 *              in a sealed run also a body that is not sealed, is sealed under a key the node lacks
 *              or does not authenticate (message-seal.ts).
 *              Kept as a dead letter, never applied; the runner goes on.
 *   gap        a valid message that does not follow the chain: a batch of the run is missing (or
 *              was damaged, hence dead), and a money ledger cannot skip one: the shard is quarantined.
 */
import { carriesAmount, txTypes } from '../domain/transaction.js';
import { shardOf } from '../domain/ids.js';
import { duplicateFlag, typeMask } from '../constants.js';
import type { TxBatch } from '../engine/batch.js';
import { columnsOf } from '../engine/batch.js';
import { header } from './names.js';
import { openMessage, type RunSeal } from './message-seal.js';
import type { DeadLetterReason } from './shard-health.js';
import { decodeBatch } from './wire.js';

/** A message's headers, as the runner reads them (a JsMsg's `headers`). */
export interface HeaderSource {
  get(key: string): string;
  keys(): string[];
  values(key: string): string[];
}

export type Verdict =
  | { readonly kind: 'apply'; readonly batch: TxBatch; readonly lastLine: number }
  | { readonly kind: 'duplicate'; readonly lastLine: number }
  | { readonly kind: 'end'; readonly lastLine: number; readonly rows: number }
  | { readonly kind: 'dead'; readonly reason: DeadLetterReason; readonly detail: string; readonly batch?: string }
  | { readonly kind: 'gap'; readonly cause: string };

/** Where the shard is: its number, the shard count, and the last line handed on (applied or in flight). */
export interface ShardPosition {
  readonly shard: number;
  readonly shards: number;
  readonly sentLine: number;
  /** The id of the run's journal (payments.journals.id): every message must carry it (none: its journal is gone). */
  readonly journal: number | undefined;
}

/** A header as a whole number >= 0, undefined when absent, NaN when not one. */
function count(h: HeaderSource | undefined, key: string): number | undefined {
  const raw = h?.get(key) ?? '';
  if (raw === '') return undefined;
  return /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
}

/** `seal`: how the run's messages are opened (a sealed run's are, before anything else is read of them). */
export function judge(h: HeaderSource | undefined, body: Uint8Array, at: ShardPosition, seal?: RunSeal): Verdict {
  let data = body;
  if (seal?.keyId !== undefined) {
    const opened = openMessage(seal.keys, seal.run, seal.keyId, at.shard, h, body);
    if (!('plain' in opened))
      return { kind: 'dead', reason: opened.reason, detail: opened.detail, batch: h?.get(header.batch) || undefined };
    data = opened.plain;
  }
  // Before anything it says is believed: a batch or an end marker of another journal of this name
  // (an earlier run's, left in the stream) would otherwise be applied to this one's.
  const journal = h?.get(header.journal) ?? '';
  if (at.journal === undefined || journal !== String(at.journal))
    return {
      kind: 'dead',
      reason: 'other-journal',
      detail:
        journal === ''
          ? `no journal id (${header.journal}): not published for this run's journal (${at.journal})`
          : `published for journal ${journal}, not this run's (${at.journal}): an earlier run of this name, its messages left in the stream`,
      batch: h?.get(header.batch) || undefined,
    };
  const end = count(h, header.end);
  if (end !== undefined) return judgeEnd(h, end, at);
  const batchNo = count(h, header.batch);
  const batch = h?.get(header.batch) || undefined;
  if (batchNo === undefined || Number.isNaN(batchNo))
    return { kind: 'dead', reason: 'no-batch-number', detail: 'no batch number (Payments-Batch)', batch };
  const first = count(h, header.firstLine);
  const last = count(h, header.lastLine);
  const prev = count(h, header.prevLine);
  if (first === undefined || last === undefined || prev === undefined || !(prev < first && first <= last))
    return {
      kind: 'dead',
      reason: 'bad-headers',
      detail: `lines: previous ${h?.get(header.prevLine) || 'none'}, first ${h?.get(header.firstLine) || 'none'}, last ${h?.get(header.lastLine) || 'none'}`,
      batch,
    };
  if (last <= at.sentLine) return { kind: 'duplicate', lastLine: last };
  let decoded: TxBatch;
  try {
    decoded = decodeBatch(data);
  } catch (error) {
    return { kind: 'dead', reason: 'undecodable', detail: (error as Error).message, batch };
  }
  const failed = checkRows(decoded, first, last, at);
  if (failed !== undefined) return { kind: 'dead', reason: 'check-failed', detail: failed, batch };
  if (prev !== at.sentLine)
    return {
      kind: 'gap',
      cause: `batch ${batchNo} follows line ${prev}, but the shard's journal ends at line ${at.sentLine}: a batch between is missing or was damaged; run the same submit again to republish it`,
    };
  return { kind: 'apply', batch: decoded, lastLine: last };
}

function judgeEnd(h: HeaderSource | undefined, batches: number, at: ShardPosition): Verdict {
  const last = count(h, header.lastLine);
  const rows = count(h, header.rows);
  // Every end marker submit sends counts its rows: one without is not the run's.
  if (Number.isNaN(batches) || last === undefined || Number.isNaN(last) || rows === undefined || Number.isNaN(rows))
    return { kind: 'dead', reason: 'bad-headers', detail: 'an end marker without a valid last line or row count' };
  if (last < at.sentLine)
    return {
      kind: 'dead',
      reason: 'check-failed',
      detail: `an end marker at line ${last}, behind line ${at.sentLine}`,
    };
  if (last > at.sentLine)
    return {
      kind: 'gap',
      cause: `the end marker closes the shard at line ${last}, but its journal ends at line ${at.sentLine}: batches are missing or were damaged; run the same submit again to republish them`,
    };
  return { kind: 'end', lastLine: last, rows };
}

/** Why a decoded batch is not one the router could have cut for this shard, or undefined. */
function checkRows(batch: TxBatch, first: number, last: number, at: ShardPosition): string | undefined {
  const { lines, kinds, clients, amounts } = columnsOf(batch.buffer);
  const n = batch.count;
  if (n === 0) return 'no rows';
  if (lines[0] !== first || lines[n - 1] !== last)
    return `rows span lines ${lines[0]} to ${lines[n - 1]}, the headers say ${first} to ${last}`;
  for (let i = 0; i < n; i++) {
    if (i > 0 && !(lines[i]! > lines[i - 1]!)) return `line ${lines[i]} does not follow line ${lines[i - 1]}`;
    const type = kinds[i]! & typeMask;
    if ((kinds[i]! & ~(typeMask | duplicateFlag)) !== 0 || type >= txTypes.length)
      return `line ${lines[i]}: no transaction type ${kinds[i]}`;
    const amount = amounts[i]!;
    if (!Number.isSafeInteger(amount) || amount < 0 || (!carriesAmount(type) && amount !== 0))
      return `line ${lines[i]}: amount ${amount} is not one the reader produces`;
    if (at.shards > 1 && shardOf(clients[i]!, at.shards) !== at.shard)
      return `line ${lines[i]}: client ${clients[i]} belongs to shard ${shardOf(clients[i]!, at.shards)}`;
  }
  return undefined;
}

/** A message's headers as a plain object (a dead letter keeps them). */
export function headersOf(h: HeaderSource | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of h?.keys() ?? []) out[key] = h!.values(key);
  return out;
}
