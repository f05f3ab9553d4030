/**
 * A shard's engine. It owns every piece of state it decides on: the client accounts (registry of
 * actors) and the transaction index that disputes look up. Each row runs as
 *   load:     the client's actor (created on first sight) and the referenced transaction
 *   validate: decide(command, state) — the pure business rules
 *   emit:     record the outcome in the journal partition (a sink: it stores, it does not decide)
 *   effect:   apply the accepted event to the account (evolve) and the index (evolveTx), together
 * Rejections are results, not errors: they change nothing but open the account, and are returned.
 * Recovery runs the same effect step over the records the journal gives back.
 */
import { decide, evolveTx, type AccountCommand, type AccountEvent, type TxRecord } from '../domain/account.js';
import { reasonCode } from '../domain/rejection.js';
import { carriesAmount, TxTypeCode } from '../domain/transaction.js';
import { JournalCorrupt } from '../errors.js';
import type {
  AccountEntry,
  EngineState,
  JournalPartition,
  JournalRecord,
  Recovery,
  RowRef,
} from '../journal/journal.js';
import { accountLayout } from '../layout.js';
import { columnsOf, duplicateFlag, typeMask, type TxBatch } from './batch.js';
import type { ClientActor } from './client-actor.js';
import { ClientRegistry } from './client-registry.js';
import { TxTable } from './tx-table.js';

/** A shard's accounts as accountLayout columns (the transport copies them to the parsing thread). */
export type AccountsSnapshot = ReturnType<typeof accountLayout.views>;

/** What recovery found, for the run's log and report. */
export interface RecoveryInfo {
  readonly resumeLine: number;
  readonly records: number;
  readonly snapshotSeq: number;
  readonly recordsReplayed: number;
  readonly torn: Recovery['torn'];
}

export class ShardEngine {
  private readonly registry = new ClientRegistry();
  private readonly txs = new TxTable();
  /** Records (events and rejections) over every run of this partition: the last sequence number. */
  records = 0;
  /** Accepted events among them. */
  events = 0;
  /** Rows handed to applyBatch in this run. */
  rowsApplied = 0;
  /** Rows up to this line were applied by an earlier run; their recorded outcomes are reported. */
  private resumeLine = 0;

  constructor(readonly journal: JournalPartition) {}

  /** An engine over a partition, with the partition's state recovered: its snapshot, then its tail. */
  static async open(journal: JournalPartition): Promise<{ engine: ShardEngine; recovery: RecoveryInfo }> {
    const recovery = await journal.recover();
    const engine = new ShardEngine(journal);
    const { snapshot } = recovery;
    if (snapshot) {
      for (const { client, state } of snapshot.accounts) engine.registry.getOrCreate(client).restore(state);
      for (const part of snapshot.txParts) engine.txs.importPart(part);
      engine.records = snapshot.seq;
      engine.events = snapshot.events;
    }
    let recordsReplayed = 0;
    const replay = (record: JournalRecord): void => {
      engine.replay(record);
      recordsReplayed++;
    };
    if (Symbol.iterator in recovery.tail) for (const record of recovery.tail) replay(record);
    else for await (const record of recovery.tail) replay(record);
    if (engine.records !== recovery.lastSeq)
      throw new JournalCorrupt(`journal partition: recovery ended at seq ${engine.records}, not ${recovery.lastSeq}`);
    engine.resumeLine = recovery.resumeLine;
    const info = {
      resumeLine: recovery.resumeLine,
      records: engine.records,
      snapshotSeq: snapshot?.seq ?? 0,
      recordsReplayed,
      torn: recovery.torn,
    };
    return { engine, recovery: info };
  }

  /**
   * Applies a batch in order, then commits it to the journal (and writes a snapshot when due). Rows
   * an earlier run applied are not applied again: their recorded outcome is reported instead.
   * Returns the rejections as pairs (row index in batch, reason code).
   */
  async applyBatch(batch: TxBatch): Promise<Uint32Array> {
    const cols = columnsOf(batch.buffer);
    const rejected: number[] = [];
    const n = batch.count;
    let recorded: readonly JournalRecord[] = [];
    let next = 0;
    if (n > 0 && cols.lines[0]! <= this.resumeLine)
      recorded = await this.journal.recordedOutcomes(cols.lines[0]!, Math.min(cols.lines[n - 1]!, this.resumeLine));
    for (let i = 0; i < n; i++) {
      const kind = cols.kinds[i]!;
      const row: RowRef = {
        line: cols.lines[i]!,
        typeCode: kind & typeMask,
        client: cols.clients[i]!,
        tx: cols.txs[i]!,
        amount: cols.amounts[i]!,
      };
      const reason =
        row.line <= this.resumeLine
          ? outcomeOf(recorded[next++], row)
          : this.execute(row, (kind & duplicateFlag) !== 0);
      if (reason >= 0) rejected.push(i, reason);
    }
    await this.journal.commit();
    if (this.journal.snapshotDue(this.txs.size)) await this.journal.writeSnapshot(this.state());
    this.rowsApplied += n;
    return Uint32Array.from(rejected);
  }

  /** Runs one row as a command; returns -1 when accepted, else the rejection reason code. */
  execute(row: RowRef, duplicate: boolean): number {
    const cmd = commandOf(row.typeCode, row.client, row.tx, row.amount, duplicate);
    // load
    const actor = this.registry.getOrCreate(cmd.client);
    const referenced: TxRecord | undefined = carriesAmount(row.typeCode) ? undefined : this.txs.get(cmd.tx);
    // validate
    const decision = decide(cmd, actor.state, referenced);
    if (!decision.ok) {
      const code = reasonCode(decision.reason);
      this.journal.recordRejection(code, row); // emit
      this.records++;
      return code;
    }
    this.journal.recordEvent(decision.event, row); // emit
    this.effect(actor, decision.event, referenced);
    return -1;
  }

  /** The effect of an accepted event: the account through evolve, the index through evolveTx. */
  private effect(actor: ClientActor, event: AccountEvent, referenced: TxRecord | undefined): void {
    actor.apply(event);
    this.txs.set(event.tx, evolveTx(referenced, event));
    this.events++;
    this.records++;
  }

  /** Applies a record an earlier run made (recovery): the same effect step, no decision. */
  private replay(record: JournalRecord): void {
    if (record.seq !== this.records + 1)
      throw new JournalCorrupt(`journal partition: record seq ${record.seq} does not follow ${this.records}`);
    if (record.event === undefined) {
      this.registry.getOrCreate(record.client); // a rejected row still opened the account
      this.records++;
      return;
    }
    const opens = record.event.type === 'Deposited' || record.event.type === 'Withdrawn';
    const actor = this.registry.getOrCreate(record.client);
    this.effect(actor, record.event, opens ? undefined : this.txs.get(record.event.tx));
  }

  /** The state a snapshot stores. */
  state(): EngineState {
    const { txs } = this;
    return { accounts: this.accountEntries(), events: this.events, txParts: (partTxs) => txs.exportParts(partTxs) };
  }

  accountEntries(): AccountEntry[] {
    return this.registry.all().map((actor) => ({ client: actor.client, state: actor.state }));
  }

  get accountCount(): number {
    return this.registry.size;
  }

  get storedTxCount(): number {
    return this.txs.size;
  }

  get indexBytes(): number {
    return this.txs.bytes;
  }

  accounts(): AccountsSnapshot {
    const actors = this.registry.all();
    const snapshot = accountLayout.views(new ArrayBuffer(accountLayout.bytes(actors.length)), actors.length);
    actors.forEach((actor, i) => {
      const { available, held, locked } = actor.state;
      snapshot.clients[i] = actor.client;
      snapshot.available[i] = available;
      snapshot.held[i] = held;
      snapshot.locked[i] = locked ? 1 : 0;
    });
    return snapshot;
  }
}

/** The outcome an earlier run recorded for `row`; the record must answer this very row. */
function outcomeOf(record: JournalRecord | undefined, row: RowRef): number {
  if (
    record === undefined ||
    record.line !== row.line ||
    record.client !== row.client ||
    record.tx !== row.tx ||
    record.typeCode !== row.typeCode ||
    record.amount !== row.amount
  ) {
    throw new JournalCorrupt(
      `the journal does not match the input at line ${row.line}` +
        (record
          ? ` (it recorded line ${record.line}: client ${record.client}, tx ${record.tx})`
          : ' (it has no record for it)') +
        '; was the input file changed? Use a new --journal directory for a different input',
    );
  }
  return record.reason;
}

export function commandOf(
  typeCode: number,
  client: number,
  tx: number,
  amount: number,
  duplicate: boolean,
): AccountCommand {
  switch (typeCode) {
    case TxTypeCode.deposit:
      return { type: 'Deposit', client, tx, amount, duplicate };
    case TxTypeCode.withdrawal:
      return { type: 'Withdraw', client, tx, amount, duplicate };
    case TxTypeCode.dispute:
      return { type: 'OpenDispute', client, tx };
    case TxTypeCode.resolve:
      return { type: 'ResolveDispute', client, tx };
    case TxTypeCode.chargeback:
      return { type: 'ChargeBack', client, tx };
    default:
      throw new Error(`invariant: unknown type code ${typeCode} in batch`);
  }
}
