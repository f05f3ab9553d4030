/**
 * A shard's engine: runs each command as load → validate → emit → effect.
 *   load:     the client's actor (created on first sight) and the referenced transaction
 *   validate: decide(command, state) — the pure business rules
 *   emit:     append the accepted event to the journal partition (sequenced there)
 *   effect:   apply the event to the actor's state through evolve
 * Rejections are results, not errors: they change nothing and are returned to the caller.
 */
import { decide, type AccountCommand, type AccountState, type TxRecord } from '../domain/account.js';
import { reasonCode } from '../domain/rejection.js';
import { TxTypeCode } from '../domain/transaction.js';
import type { Journal, RowRef } from '../journal/journal.js';
import { columnsOf, capacityOf, duplicateFlag, typeMask, type TxBatch } from '../pool/batch.js';
import { ClientRegistry } from './client-registry.js';

export interface AccountsSnapshot {
  clients: Uint16Array;
  available: Float64Array;
  held: Float64Array;
  locked: Uint8Array;
}

export class ShardEngine {
  readonly registry = new ClientRegistry();
  rowsApplied = 0;

  /** `recovered`: the accounts a durable journal rebuilt, when resuming. */
  constructor(
    readonly journal: Journal,
    recovered?: ReadonlyMap<number, AccountState>,
  ) {
    for (const [client, state] of recovered ?? []) this.registry.getOrCreate(client).restore(state);
  }

  /**
   * Applies a batch in order, then commits it to the journal. Rows the journal already holds (from
   * a run that was interrupted) are not applied again: their recorded outcome is reported instead.
   * Returns the rejections as pairs (row index in batch, reason code).
   */
  applyBatch(batch: TxBatch): Uint32Array {
    const cols = columnsOf(batch.buffer, capacityOf(batch.buffer));
    const rejected: number[] = [];
    const { journal } = this;
    for (let i = 0; i < batch.count; i++) {
      const kind = cols.kinds[i]!;
      const row: RowRef = {
        line: cols.lines[i]!,
        typeCode: kind & typeMask,
        client: cols.clients[i]!,
        tx: cols.txs[i]!,
        amount: cols.amounts[i]!,
      };
      const reason =
        row.line <= journal.resumeLine ? journal.recordedOutcome(row) : this.execute(row, (kind & duplicateFlag) !== 0);
      if (reason >= 0) rejected.push(i, reason);
    }
    journal.commit();
    if (journal.snapshotDue) journal.writeSnapshot(this.accountEntries());
    this.rowsApplied += batch.count;
    return Uint32Array.from(rejected);
  }

  /** Runs one row as a command; returns -1 when accepted, else the rejection reason code. */
  execute(row: RowRef, duplicate: boolean): number {
    const cmd = commandOf(row.typeCode, row.client, row.tx, row.amount, duplicate);
    const actor = this.registry.getOrCreate(cmd.client); // load
    const referenced: TxRecord | undefined =
      cmd.type === 'Deposit' || cmd.type === 'Withdraw' ? undefined : this.journal.lookupTx(cmd.tx);
    const decision = decide(cmd, actor.state, referenced); // validate
    if (!decision.ok) {
      const code = reasonCode(decision.reason);
      this.journal.appendRejection(code, row);
      return code;
    }
    this.journal.append(decision.event, row); // emit
    actor.apply(decision.event); // effect
    return -1;
  }

  accountEntries(): { client: number; state: AccountState }[] {
    return this.registry.all().map((actor) => ({ client: actor.client, state: actor.state }));
  }

  accounts(): AccountsSnapshot {
    const actors = this.registry.all();
    const n = actors.length;
    const snapshot: AccountsSnapshot = {
      clients: new Uint16Array(n),
      available: new Float64Array(n),
      held: new Float64Array(n),
      locked: new Uint8Array(n),
    };
    actors.forEach((actor, i) => {
      snapshot.clients[i] = actor.client;
      snapshot.available[i] = actor.state.available;
      snapshot.held[i] = actor.state.held;
      snapshot.locked[i] = actor.state.locked ? 1 : 0;
    });
    return snapshot;
  }
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
