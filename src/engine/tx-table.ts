/**
 * The engine's index of accepted deposits and withdrawals, for dispute look-ups.
 *
 * Tx ids mostly arrive in increasing order, so a record whose id is above every id of its kind so
 * far is appended to fixed-size pages in id order (engine/sorted-ids.ts: never rehashed or copied);
 * the rare id that arrives out of order goes to a hash table (engine/tx-hash-table.ts).
 *
 * Deposits and withdrawals are kept apart because the rules read different things of them
 * (domain/account.ts): a deposit's client, amount and dispute status; of a withdrawal only that it
 * exists, whose it is, and that it is a withdrawal (a dispute of it is rejected; its status never
 * leaves `processed` and its amount is never read). So a deposit costs 8.5 bytes (the id's low 12
 * bits, client, amount in 38 bits + status in one u32 and one u8) and a withdrawal 3.5 (id, client),
 * where one shape for both cost 11 for each (measured at 37.5 M rows: 370 MB of index before, 230
 * after).
 * A withdrawal's record reads back with amount 0.
 *
 * Hot path: `find` returns the packed info word (engine/tx-record-codec.ts; 0 when absent) and
 * remembers where it found it, for `foundAmount` and `setFoundInfo` — no object per look-up.
 */
import { StatusCode, type TxRecord } from '../domain/account.js';
import { TxHashTable } from './tx-hash-table.js';
import type { TxIndexPart } from './journal-port.js';
import { decodeRecord, encodeInfo, infoClient, infoStatus, infoWithdrawal, packInfo } from './tx-record-codec.js';
import { pageBits, pageMask, pageSize, SortedIds } from './sorted-ids.js';

export type TxColumns = TxIndexPart;

/** 2^32: a deposit's amount is (hiStatus & hiMask) × 2^32 + amountLo. */
const loSpan = 0x1_0000_0000;
/** hiStatus: the amount's bits 32-37 in bits 0-5, the dispute status in bits 6-7. */
const hiMask = 0x3f;
const statusShift = 6;
/** The amount's high part saying "the amount is in the page's overflow" (63 × 2^32 minor units or more). */
const hiOverflow = hiMask;
const pageAmountLimit = hiOverflow * loSpan;

/** Where the last successful `find` found its record. */
const enum Found {
  Deposit,
  Withdrawal,
  Hash,
}

export class TxTable {
  private readonly deposits = new SortedIds();
  private readonly depositClients: Uint16Array[] = [];
  private readonly depositAmountLo: Uint32Array[] = [];
  private readonly depositHiStatus: Uint8Array[] = [];
  /**
   * Deposit amounts too large for a page's 38 bits (27,058,293.9648 and more), a whole f64 column
   * for each page that holds one: 8 bytes a deposit at most, never an object per amount (a Map of
   * them cost 80 bytes and most of the engine's time on a file of such deposits).
   */
  private readonly overflowPages: (Float64Array | undefined)[] = [];
  private readonly withdrawals = new SortedIds();
  private readonly withdrawalClients: Uint16Array[] = [];
  private readonly outOfOrder = new TxHashTable();
  private found = Found.Deposit;
  /** The position (pages) or slot handle (hash) of the last successful `find`, and its tx id. */
  private foundAt = 0;
  private foundTx = 0;
  /**
   * Since markClean (for a snapshot layered on the last full one): the page counts then, and the
   * ids of entries changed or stored out of order since (undefined: not tracked).
   */
  private clean: { deposits: number; withdrawals: number } | undefined;
  private changed: Set<number> | undefined;

  get size(): number {
    return this.deposits.count + this.withdrawals.count + this.outOfOrder.size;
  }

  get bytes(): number {
    return (
      this.deposits.bytes +
      this.depositClients.length * pageSize * 7 + // client 2, amount and status 5
      this.withdrawals.bytes +
      this.withdrawalClients.length * pageSize * 2 +
      this.overflowPages.reduce((sum, page) => sum + (page?.byteLength ?? 0), 0) +
      this.outOfOrder.bytes
    );
  }

  /** The info word of `tx` (0: no record); then foundAmount/setFoundInfo address that record. */
  find(tx: number): number {
    this.foundTx = tx;
    // An id is in one of the three: ask the largest first (random ids live in the hash, and a miss
    // in the pages' directory is a cache miss of its own); deposits before withdrawals, as disputes
    // name deposits.
    if (this.outOfOrder.size > this.deposits.count + this.withdrawals.count)
      return this.findOutOfOrder(tx) || this.findInPages(tx);
    return this.findInPages(tx) || (this.outOfOrder.size > 0 ? this.findOutOfOrder(tx) : 0);
  }

  private findInPages(tx: number): number {
    let at = this.deposits.find(tx);
    if (at >= 0) {
      this.found = Found.Deposit;
      this.foundAt = at;
      const page = at >>> pageBits;
      const i = at & pageMask;
      return packInfo(this.depositClients[page]![i]!, false, this.depositHiStatus[page]![i]! >>> statusShift);
    }
    at = this.withdrawals.find(tx);
    if (at < 0) return 0;
    this.found = Found.Withdrawal;
    this.foundAt = at;
    return packInfo(this.withdrawalClients[at >>> pageBits]![at & pageMask]!, true, StatusCode.processed);
  }

  private findOutOfOrder(tx: number): number {
    const slot = this.outOfOrder.findSlot(tx);
    if (slot < 0) return 0;
    this.found = Found.Hash;
    this.foundAt = slot;
    return this.outOfOrder.infoAt(slot);
  }

  /** The amount of the record the last successful `find` returned (0 for a withdrawal). */
  foundAmount(): number {
    switch (this.found) {
      case Found.Deposit:
        return this.depositAmount(this.foundAt);
      case Found.Withdrawal:
        return 0;
      default:
        return this.outOfOrder.amountAt(this.foundAt);
    }
  }

  /** Replaces the info word of the record the last successful `find` returned: only its status changes. */
  setFoundInfo(info: number): void {
    switch (this.found) {
      case Found.Deposit: {
        const at = this.foundAt;
        const page = at >>> pageBits;
        const i = at & pageMask;
        if (infoWithdrawal(info) || infoClient(info) !== this.depositClients[page]![i])
          throw new Error('invariant: a deposit record changes only its status');
        const hiStatus = this.depositHiStatus[page]!;
        hiStatus[i] = (hiStatus[i]! & hiMask) | (infoStatus(info) << statusShift);
        this.changed?.add(this.foundTx);
        return;
      }
      case Found.Withdrawal:
        if (info !== packInfo(this.withdrawalClients[this.foundAt >>> pageBits]![this.foundAt & pageMask]!, true, 0))
          throw new Error('invariant: a withdrawal record never changes');
        return;
      default:
        this.outOfOrder.setInfoAt(this.foundAt, info);
        this.changed?.add(this.foundTx);
    }
  }

  /**
   * Stores the record of a tx that has none (the duplicate-tx rule: a deposit or withdrawal is
   * accepted once per id). A withdrawal is stored as processed, without its amount.
   */
  put(tx: number, info: number, amount: number): void {
    if (infoWithdrawal(info)) {
      if (infoStatus(info) !== StatusCode.processed) throw new Error('invariant: a withdrawal is never disputed');
      if (tx > this.withdrawals.lastKey) this.appendWithdrawal(tx, infoClient(info));
      else this.putOutOfOrder(tx, info, 0);
    } else if (tx > this.deposits.lastKey) this.appendDeposit(tx, info, amount);
    else this.putOutOfOrder(tx, info, amount);
  }

  private putOutOfOrder(tx: number, info: number, amount: number): void {
    this.outOfOrder.upsert(tx, info, amount);
    this.changed?.add(tx);
  }

  /** Starts (again) keeping what changes from here on, for exportDelta. */
  markClean(): void {
    this.clean = { deposits: this.deposits.count, withdrawals: this.withdrawals.count };
    this.changed = new Set();
  }

  /** Entries exportDelta would hand out (at most); undefined when not tracked. */
  get deltaSize(): number | undefined {
    const { clean, changed } = this;
    if (clean === undefined || changed === undefined) return undefined;
    return this.deposits.count - clean.deposits + this.withdrawals.count - clean.withdrawals + changed.size;
  }

  /**
   * What was added or changed since markClean, as parts of at most `partEntries`: the deposits and
   * withdrawals appended to the pages since, in id order, then every entry changed or stored out of
   * order since. importDelta over the table as it was at markClean gives this table's entries.
   */
  *exportDelta(partEntries: number): Generator<TxColumns> {
    const { clean, changed } = this;
    if (clean === undefined || changed === undefined) throw new Error('invariant: no delta kept');
    const perPart = Math.max(pageSize, partEntries - (partEntries % pageSize));
    const ranges: [SortedIds, number][] = [
      [this.deposits, clean.deposits],
      [this.withdrawals, clean.withdrawals],
    ];
    for (const [ids, start] of ranges) {
      for (let from = start; from < ids.count; from += perPart) {
        const n = Math.min(perPart, ids.count - from);
        const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
        ids.idsInto(from, part.keys);
        for (let i = 0; i < n; i++) {
          part.infos[i] = this.find(part.keys[i]!);
          part.amounts[i] = this.foundAmount();
        }
        yield part;
      }
    }
    const keys = [...changed];
    for (let from = 0; from < keys.length; from += perPart) {
      const n = Math.min(perPart, keys.length - from);
      const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
      for (let i = 0; i < n; i++) {
        const tx = keys[from + i]!;
        part.keys[i] = tx;
        part.infos[i] = this.find(tx);
        part.amounts[i] = this.foundAmount();
      }
      yield part;
    }
  }

  /** Applies exportDelta's parts, in order: a new entry is stored, a known one takes the delta's status. */
  importDelta({ keys, infos, amounts }: TxColumns): void {
    for (let i = 0; i < keys.length; i++) {
      const info = infos[i]!;
      if (info === 0) throw new Error('invariant: a delta entry without a record');
      if (this.find(keys[i]!) === 0) this.put(keys[i]!, info, amounts[i]!);
      else this.setFoundInfo(info);
    }
  }

  get(tx: number): TxRecord | undefined {
    const info = this.find(tx);
    return info === 0 ? undefined : decodeRecord(info, this.foundAmount());
  }

  /**
   * Stores a new record or replaces the record of `tx` (object form, for tests and tools). A
   * record keeps its kind: the engine never stores a tx id twice.
   */
  set(tx: number, record: TxRecord): void {
    const info = encodeInfo(record);
    const old = this.find(tx);
    if (old === 0) {
      this.put(tx, info, record.amount);
      return;
    }
    if (infoWithdrawal(old) !== infoWithdrawal(info)) throw new Error(`invariant: tx ${tx} changes kind`);
    switch (this.found) {
      case Found.Deposit:
        this.depositClients[this.foundAt >>> pageBits]![this.foundAt & pageMask] = record.client;
        this.setFoundInfo(info);
        this.setDepositAmount(this.foundAt, record.amount);
        return;
      case Found.Withdrawal:
        this.withdrawalClients[this.foundAt >>> pageBits]![this.foundAt & pageMask] = record.client;
        this.setFoundInfo(info);
        return;
      default:
        this.putOutOfOrder(tx, info, infoWithdrawal(info) ? 0 : record.amount);
    }
  }

  /**
   * Every record as columns, in parts of at most `partEntries` (a multiple of the page size): the
   * deposits in id order, the withdrawals in id order, then the out-of-order ones. For snapshots,
   * so that no single buffer holds the whole index. `importPart` rebuilds the same table from them.
   */
  *exportParts(partEntries: number): Generator<TxColumns> {
    const perPart = Math.max(pageSize, partEntries - (partEntries % pageSize));
    for (let from = 0; from < this.deposits.count; from += perPart) {
      const n = Math.min(perPart, this.deposits.count - from);
      const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
      this.deposits.idsInto(from, part.keys);
      for (let i = 0; i < n; i++) {
        const at = from + i;
        const page = at >>> pageBits;
        const j = at & pageMask;
        part.infos[i] = packInfo(
          this.depositClients[page]![j]!,
          false,
          this.depositHiStatus[page]![j]! >>> statusShift,
        );
        part.amounts[i] = this.depositAmount(at);
      }
      yield part;
    }
    for (let from = 0; from < this.withdrawals.count; from += perPart) {
      const n = Math.min(perPart, this.withdrawals.count - from);
      const part = { keys: new Uint32Array(n), infos: new Uint32Array(n), amounts: new Float64Array(n) };
      this.withdrawals.idsInto(from, part.keys);
      for (let i = 0; i < n; i++) {
        const at = from + i;
        part.infos[i] = packInfo(this.withdrawalClients[at >>> pageBits]![at & pageMask]!, true, 0);
      }
      yield part;
    }
    yield* this.outOfOrder.exportParts(perPart);
  }

  /**
   * Adds exportParts' output back, part by part, in the order it was exported (also a snapshot of
   * an earlier version, whose single sorted run holds each kind in id order).
   */
  importPart({ keys, infos, amounts }: TxColumns): void {
    for (let i = 0; i < keys.length; i++) this.put(keys[i]!, infos[i]!, amounts[i]!);
  }

  *entries(): Generator<[number, TxRecord]> {
    for (const part of this.exportParts(pageSize * 16)) {
      for (let i = 0; i < part.keys.length; i++) yield [part.keys[i]!, decodeRecord(part.infos[i]!, part.amounts[i]!)];
    }
  }

  private appendDeposit(tx: number, info: number, amount: number): void {
    const at = this.deposits.append(tx);
    const page = at >>> pageBits;
    if (page === this.depositClients.length) {
      this.depositClients.push(new Uint16Array(pageSize));
      this.depositAmountLo.push(new Uint32Array(pageSize));
      this.depositHiStatus.push(new Uint8Array(pageSize));
    }
    const i = at & pageMask;
    this.depositClients[page]![i] = infoClient(info);
    this.depositHiStatus[page]![i] = infoStatus(info) << statusShift;
    this.setDepositAmount(at, amount);
  }

  private appendWithdrawal(tx: number, client: number): void {
    const at = this.withdrawals.append(tx);
    const page = at >>> pageBits;
    if (page === this.withdrawalClients.length) this.withdrawalClients.push(new Uint16Array(pageSize));
    this.withdrawalClients[page]![at & pageMask] = client;
  }

  private depositAmount(at: number): number {
    const page = at >>> pageBits;
    const i = at & pageMask;
    const hi = this.depositHiStatus[page]![i]! & hiMask;
    return hi === hiOverflow ? this.overflowPages[page]![i]! : hi * loSpan + this.depositAmountLo[page]![i]!;
  }

  /** Sets a deposit's amount, keeping its status. */
  private setDepositAmount(at: number, amount: number): void {
    const page = at >>> pageBits;
    const i = at & pageMask;
    const hiStatus = this.depositHiStatus[page]!;
    const status = hiStatus[i]! & ~hiMask;
    if (amount < pageAmountLimit) {
      this.depositAmountLo[page]![i] = amount >>> 0; // the low 32 bits (ToUint32 is modulo 2^32)
      hiStatus[i] = status | Math.floor(amount / loSpan);
    } else {
      hiStatus[i] = status | hiOverflow;
      (this.overflowPages[page] ??= new Float64Array(pageSize))[i] = amount;
    }
  }
}
