/**
 * A shard's engine. It owns every piece of state it decides on: the client accounts (typed-array
 * columns by dense slot) and the transaction index that disputes look up. Each row runs as
 *   load:     the client's account slot (opened on first sight) and the referenced transaction
 *   validate: decideCode — the pure business rules (domain/account.ts), on plain numbers
 *   emit:     record the outcome in the journal partition (a sink: it stores, it does not decide)
 *   effect:   apply the accepted event to the account (evolve's parts) and the index (statusAfter)
 * Rejections are results, not errors: they change nothing but open the account, and are returned.
 * Recovery runs the same effect step over the records the journal gives back. No object is made
 * per row unless the journal records (measured: a fifth of a worker's time went to GC before).
 */
import {
  assertBalances,
  availableAfter,
  decideCode,
  EventCode,
  eventAmount,
  eventCodeOf,
  eventOf,
  heldAfter,
  lockedAfter,
  noRecord,
  reasonCodeOf,
  statusAfter,
  type AccountCommand,
} from '../domain/account.js';
import { TxTypeCode } from '../domain/transaction.js';
import { clientsMax } from '../constants.js';
import { JournalCorrupt } from '../errors.js';
import type { AccountEntry, EngineState, JournalPartition, JournalRecord, Recovery, RowRef } from './journal-port.js';
import type { InputProof } from '../io/input-proof.js';
import { accountLayout } from '../layout.js';
import { columnsOf, duplicateFlag, typeMask, type TxBatch } from './batch.js';
import { infoClient, infoStatus, infoWithdrawal, packInfo, withStatus } from './tx-record-codec.js';
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
  readonly inputProofs: Recovery['inputProofs'];
}

export class ShardEngine {
  /** Dense account slots, in the order clients were first seen (a slot per client of this shard). */
  private readonly slots = new Int32Array(clientsMax).fill(-1);
  private readonly clients = new Uint16Array(clientsMax);
  private readonly available = new Float64Array(clientsMax);
  private readonly held = new Float64Array(clientsMax);
  private readonly locked = new Uint8Array(clientsMax);
  private slotCount = 0;
  private readonly txs = new TxTable();
  /** False for the null journal: no event or row object is made for it. */
  private readonly recording: boolean;
  /** Records (events and rejections) over every run of this partition: the last sequence number. */
  records = 0;
  /** Accepted events among them. */
  events = 0;
  /** How long the last batch's journal commit took (a cluster node's metric of commit time apart from apply). */
  lastCommitMs = 0;
  /** Rows handed to applyBatch in this run. */
  rowsApplied = 0;
  /** The full snapshot the index's changes are kept against (for a layered snapshot), if any. */
  private txBaseSeq: number | undefined;
  /** Rows up to this line were applied by an earlier run; their recorded outcomes are reported. */
  private resumeLine = 0;
  /**
   * Rejection pairs of the batch being applied, reused: a fresh buffer per batch is external memory
   * the worker's rarely-running GC (it allocates almost nothing else) let pile up into RSS.
   */
  private rejected = new Uint32Array(0);

  constructor(readonly journal: JournalPartition) {
    this.recording = journal.recordsNothing !== true;
  }

  /** An engine over a partition, with the partition's state recovered: its snapshot, then its tail. */
  static async open(journal: JournalPartition): Promise<{ engine: ShardEngine; recovery: RecoveryInfo }> {
    const recovery = await journal.recover();
    const engine = new ShardEngine(journal);
    const { snapshot } = recovery;
    if (snapshot) {
      for (const { client, state } of snapshot.accounts) {
        const slot = engine.slotOf(client);
        engine.available[slot] = state.available;
        engine.held[slot] = state.held;
        engine.locked[slot] = state.locked ? 1 : 0;
      }
      for (const part of snapshot.txParts) engine.txs.importPart(part);
      // A journal that layers snapshots: what changes from its full one on is kept (the delta's entries too).
      if (snapshot.baseSeq !== undefined) {
        engine.txs.markClean();
        engine.txBaseSeq = snapshot.baseSeq;
      }
      for (const part of snapshot.txDelta ?? []) engine.txs.importDelta(part);
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
      inputProofs: recovery.inputProofs,
    };
    return { engine, recovery: info };
  }

  /**
   * Applies a batch in order, then commits it to the journal (and writes a snapshot when due). Rows
   * an earlier run applied are not applied again: their recorded outcome is reported instead.
   * Returns the rejections as pairs (row index in batch, reason code). `proof` (the input up to the
   * end of the batch's read) is committed with the batch, for a later resume to check the input by.
   */
  async applyBatch(batch: TxBatch, proof?: InputProof): Promise<Uint32Array> {
    const cols = columnsOf(batch.buffer);
    const { kinds, lines, clients, txs, amounts } = cols;
    const n = batch.count;
    if (this.rejected.length < 2 * n) this.rejected = new Uint32Array(2 * n);
    const { rejected } = this;
    let r = 0;
    let recorded: readonly JournalRecord[] = [];
    let next = 0;
    if (n > 0 && lines[0]! <= this.resumeLine)
      recorded = await this.journal.recordedOutcomes(lines[0]!, Math.min(lines[n - 1]!, this.resumeLine));
    for (let i = 0; i < n; i++) {
      const kind = kinds[i]!;
      const line = lines[i]!;
      const reason =
        line <= this.resumeLine
          ? outcomeOf(recorded[next++], {
              line,
              typeCode: kind & typeMask,
              client: clients[i]!,
              tx: txs[i]!,
              amount: amounts[i]!,
            })
          : this.execute(kind & typeMask, clients[i]!, txs[i]!, amounts[i]!, (kind & duplicateFlag) !== 0, line);
      if (reason >= 0) {
        rejected[r++] = i;
        rejected[r++] = reason;
      }
    }
    const committing = performance.now();
    await this.journal.commit(proof);
    this.lastCommitMs = performance.now() - committing;
    if (this.journal.snapshotDue(this.txs.size)) await this.journal.writeSnapshot(this.state());
    this.rowsApplied += n;
    return rejected.slice(0, r);
  }

  /**
   * Runs one row: load (account slot, referenced record), validate (decideCode: the business
   * rules), emit (the journal), effect. Returns -1 when accepted, else the rejection reason code.
   * Nothing here allocates unless the journal records.
   */
  execute(typeCode: number, client: number, tx: number, amount: number, duplicate: boolean, line: number): number {
    // load
    const slot = this.slotOf(client);
    let refClient = noRecord;
    let refWithdrawal = false;
    let refStatus = 0;
    let refAmount = 0;
    if (typeCode > EventCode.Withdrawn) {
      const info = this.txs.find(tx);
      if (info !== 0) {
        refClient = infoClient(info);
        refWithdrawal = infoWithdrawal(info);
        refStatus = infoStatus(info);
        refAmount = this.txs.foundAmount();
      }
    }
    // validate
    const code = decideCode(
      typeCode,
      client,
      amount,
      duplicate,
      this.available[slot]!,
      this.held[slot]!,
      this.locked[slot] === 1,
      refClient,
      refWithdrawal,
      refStatus,
      refAmount,
    );
    const moved = code < 0 ? 0 : eventAmount(code, amount, refAmount);
    // emit
    if (this.recording) this.emit(code, line, typeCode, client, tx, amount, moved);
    if (code < 0) {
      this.records++; // a rejected row changes nothing but opening the account
      return reasonCodeOf(code);
    }
    this.effect(slot, code, client, tx, moved, refClient, refWithdrawal, refStatus);
    return -1;
  }

  /**
   * Records the row's outcome in the journal. Out of line: the null journal never gets here, and a
   * smaller `execute` leaves the JIT room to inline the rules into it.
   */
  private emit(
    code: number,
    line: number,
    typeCode: number,
    client: number,
    tx: number,
    amount: number,
    moved: number,
  ): void {
    const { journal } = this;
    if (journal.recordCodes !== undefined) {
      if (code < 0) journal.recordCodes(-1, reasonCodeOf(code), line, typeCode, client, tx, amount);
      else journal.recordCodes(code, -1, line, typeCode, client, tx, moved);
      return;
    }
    const row: RowRef = { line, typeCode, client, tx, amount };
    if (code < 0) this.journal.recordRejection(reasonCodeOf(code), row);
    else this.journal.recordEvent(eventOf(code, client, tx, moved), row);
  }

  /**
   * The effect of an accepted event: the account (evolve: availableAfter, heldAfter, lockedAfter)
   * and the index (evolveTx: statusAfter), together. For a dispute, resolve or chargeback the
   * referenced record is the one the last txs.find returned.
   */
  private effect(
    slot: number,
    code: number,
    client: number,
    tx: number,
    amount: number,
    refClient: number,
    refWithdrawal: boolean,
    refStatus: number,
  ): void {
    const available = availableAfter(code, this.available[slot]!, amount);
    const held = heldAfter(code, this.held[slot]!, amount);
    assertBalances(available, held);
    this.available[slot] = available;
    this.held[slot] = held;
    this.locked[slot] = lockedAfter(code, this.locked[slot] === 1) ? 1 : 0;
    const status = statusAfter(code, tx, refClient, refWithdrawal, refStatus);
    if (code <= EventCode.Withdrawn) this.txs.put(tx, packInfo(client, code === EventCode.Withdrawn, status), amount);
    else this.txs.setFoundInfo(withStatus(packInfo(refClient, refWithdrawal, refStatus), status));
    this.events++;
    this.records++;
  }

  /** Applies a record an earlier run made (recovery): the same effect step, no decision. */
  private replay(record: JournalRecord): void {
    if (record.seq !== this.records + 1)
      throw new JournalCorrupt(`journal partition: record seq ${record.seq} does not follow ${this.records}`);
    const slot = this.slotOf(record.client); // a rejected row still opened the account
    const { event } = record;
    if (event === undefined) {
      this.records++;
      return;
    }
    const code = eventCodeOf(event);
    const info = code > EventCode.Withdrawn ? this.txs.find(event.tx) : 0;
    this.effect(
      slot,
      code,
      event.client,
      event.tx,
      event.amount,
      info === 0 ? noRecord : infoClient(info),
      infoWithdrawal(info),
      infoStatus(info),
    );
  }

  /** The slot of a client's account, opened (all zero, unlocked) on first sight. */
  private slotOf(client: number): number {
    let slot = this.slots[client]!;
    if (slot < 0) {
      slot = this.slotCount++;
      this.slots[client] = slot;
      this.clients[slot] = client;
    }
    return slot;
  }

  /** The state a snapshot stores. */
  state(): EngineState {
    const { txs, txBaseSeq } = this;
    const entries = txs.deltaSize;
    const txDelta =
      entries === undefined || txBaseSeq === undefined
        ? undefined
        : { baseSeq: txBaseSeq, entries, total: txs.size, parts: (partTxs: number) => txs.exportDelta(partTxs) };
    return {
      accounts: this.accountEntries(),
      events: this.events,
      txParts: (partTxs) => txs.exportParts(partTxs),
      txDelta,
      written: (seq, full) => {
        if (!full) return;
        txs.markClean();
        this.txBaseSeq = seq;
      },
    };
  }

  accountEntries(): AccountEntry[] {
    return Array.from({ length: this.slotCount }, (_, slot) => ({
      client: this.clients[slot]!,
      state: { available: this.available[slot]!, held: this.held[slot]!, locked: this.locked[slot] === 1 },
    }));
  }

  get accountCount(): number {
    return this.slotCount;
  }

  get storedTxCount(): number {
    return this.txs.size;
  }

  get indexBytes(): number {
    return this.txs.bytes;
  }

  accounts(): AccountsSnapshot {
    const n = this.slotCount;
    const snapshot = accountLayout.views(new ArrayBuffer(accountLayout.bytes(n)), n);
    snapshot.clients.set(this.clients.subarray(0, n));
    snapshot.available.set(this.available.subarray(0, n));
    snapshot.held.set(this.held.subarray(0, n));
    snapshot.locked.set(this.locked.subarray(0, n));
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
