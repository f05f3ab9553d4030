/**
 * Synthetic transaction streams in the standard format (`type, client, tx, amount`), seeded and
 * deterministic: the same options give the same bytes. The generator keeps a small model of each
 * client (balance, recent deposits, open disputes, locked) so the traffic exercises every rule:
 * withdrawals that overdraw, disputes of earlier deposits, resolves and chargebacks of open disputes,
 * references to unknown or foreign transactions, and locked accounts that keep receiving traffic.
 * Memory is O(clients), whatever the number of rows.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { clientIdMax, txIdMax } from '../domain/ids.js';

export interface TrafficMix {
  /** Relative weights of the row kinds. */
  deposits: number;
  withdrawals: number;
  disputes: number;
  resolves: number;
  chargebacks: number;
  /** Share of dispute/resolve/chargeback rows that reference an unknown or another client's tx. */
  strayRefs: number;
  /** Share of withdrawals asking for more than the client has. */
  overdrafts: number;
  /** Share of rows that are malformed (every kind SPEC names) or reuse a tx id. */
  badRate: number;
}

export const defaultMix: TrafficMix = {
  deposits: 0.6,
  withdrawals: 0.35,
  disputes: 0.03,
  resolves: 0.02,
  chargebacks: 0.0002,
  strayRefs: 0.02,
  overdrafts: 0.1,
  badRate: 0,
};

export interface GenerateOptions {
  rows: number;
  clients: number;
  seed: number;
  mix: TrafficMix;
}

const depositSlots = 8; // recent deposits remembered per client, as dispute targets
const disputeSlots = 4; // open disputes remembered per client

/** Yields the file as text pieces of roughly `pieceChars`, header first. */
export function* generateCsv(options: GenerateOptions, pieceChars = 1 << 16): Generator<string> {
  const { rows, clients, mix } = options;
  const rng = xoroshiro128plus(options.seed);
  const random = (): number => (rng.next() >>> 0) / 4294967296;
  const below = (n: number): number => Math.floor(random() * n);
  const model = new ClientModel(clients, random, below);
  const weights = [mix.deposits, mix.withdrawals, mix.disputes, mix.resolves, mix.chargebacks];
  const totalWeight = weights.reduce((a, b) => a + b, 0);

  let piece = 'type, client, tx, amount\n';
  for (let row = 0; row < rows; row++) {
    if (mix.badRate > 0 && random() < mix.badRate) {
      piece += badRow(below, model.nextTx, clientId(below(clients)));
    } else {
      const c = below(clients);
      let pick = random() * totalWeight;
      let kind = 0;
      while (kind < 4 && pick >= weights[kind]!) pick -= weights[kind++]!;
      piece += model.row(c, model.possibleKind(c, kind), mix);
    }
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
}

const clientId = (index: number): number => (index + 1) & clientIdMax; // wraps within the u16 range

/** Row kinds by index: deposit, withdrawal, dispute, resolve, chargeback. */
const depositKind = 0;
const withdrawalKind = 1;
const disputeKind = 2;
const resolveKind = 3;
const chargebackKind = 4;

/** Each client's balance, recent deposits, open disputes and lock; and the next tx id. */
class ClientModel {
  private readonly balance: Float64Array;
  private readonly locked: Uint8Array;
  private readonly depTx: Uint32Array;
  private readonly depAmount: Float64Array;
  private readonly depCount: Uint32Array;
  private readonly disputeTx: Uint32Array;
  private readonly disputeAmount: Float64Array;
  private readonly disputeCount: Uint8Array;
  nextTx = 1;

  constructor(
    private readonly clients: number,
    private readonly random: () => number,
    private readonly below: (n: number) => number,
  ) {
    this.balance = new Float64Array(clients);
    this.locked = new Uint8Array(clients);
    this.depTx = new Uint32Array(clients * depositSlots);
    this.depAmount = new Float64Array(clients * depositSlots);
    this.depCount = new Uint32Array(clients);
    this.disputeTx = new Uint32Array(clients * disputeSlots);
    this.disputeAmount = new Float64Array(clients * disputeSlots);
    this.disputeCount = new Uint8Array(clients);
  }

  /** The kind picked, or one client `c` can have: no dispute without a deposit, no settling without a dispute. */
  possibleKind(c: number, kind: number): number {
    if (kind === disputeKind && this.depCount[c] === 0) return depositKind;
    if ((kind === resolveKind || kind === chargebackKind) && this.disputeCount[c] === 0)
      return this.depCount[c]! > 0 ? disputeKind : depositKind;
    return kind;
  }

  row(c: number, kind: number, mix: TrafficMix): string {
    const id = clientId(c);
    if (kind >= disputeKind && this.random() < mix.strayRefs) return this.strayRef(c, id, kind);
    if (kind === depositKind) return this.deposit(c, id);
    if (kind === withdrawalKind) return this.withdrawal(c, id, mix.overdrafts);
    if (kind === disputeKind) return this.dispute(c, id);
    return this.settle(c, id, kind);
  }

  /** An unknown tx id, or (when there is one) another client's deposit. */
  private strayRef(c: number, id: number, kind: number): string {
    const other = this.below(this.clients);
    const ref =
      other !== c && this.depCount[other]! > 0
        ? this.depTx[other * depositSlots]!
        : this.nextTx + 1_000_000 + this.below(1000);
    return `${['dispute', 'resolve', 'chargeback'][kind - disputeKind]}, ${id}, ${ref},\n`;
  }

  private deposit(c: number, id: number): string {
    const amount = randomAmount(this.random);
    const tx = this.nextTx++;
    const slot = c * depositSlots + (this.depCount[c]! % depositSlots);
    this.depTx[slot] = tx;
    this.depAmount[slot] = amount;
    this.depCount[c]!++;
    this.balance[c]! += amount;
    return `deposit, ${id}, ${tx}, ${formatAmount(amount)}\n`;
  }

  private withdrawal(c: number, id: number, overdrafts: number): string {
    const overdraw = this.balance[c]! <= 0 || this.random() < overdrafts;
    const amount = overdraw
      ? Math.max(1, this.balance[c]!) + 1 + this.below(1_000_000)
      : Math.min(this.balance[c]!, randomAmount(this.random));
    if (!overdraw && !this.locked[c]) this.balance[c]! -= amount;
    return `withdrawal, ${id}, ${this.nextTx++}, ${formatAmount(amount)}\n`;
  }

  private dispute(c: number, id: number): string {
    const slot = c * depositSlots + this.below(Math.min(this.depCount[c]!, depositSlots));
    const open = this.disputeCount[c]!;
    if (open < disputeSlots) {
      this.disputeTx[c * disputeSlots + open] = this.depTx[slot]!;
      this.disputeAmount[c * disputeSlots + open] = this.depAmount[slot]!;
      this.disputeCount[c] = open + 1;
      this.balance[c]! -= this.depAmount[slot]!;
    }
    return `dispute, ${id}, ${this.depTx[slot]},\n`;
  }

  /** A resolve or a chargeback of the client's last open dispute. */
  private settle(c: number, id: number, kind: number): string {
    const last = c * disputeSlots + this.disputeCount[c]! - 1;
    this.disputeCount[c]!--;
    if (kind === resolveKind) this.balance[c]! += this.disputeAmount[last]!;
    else this.locked[c] = 1;
    return `${kind === resolveKind ? 'resolve' : 'chargeback'}, ${id}, ${this.disputeTx[last]},\n`;
  }
}

/**
 * Minor units between 0.0001 and about 10,000, log-uniform so small and large amounts both occur,
 * with 0 to 4 decimal places chosen evenly (the amount is a multiple of the last place).
 */
function randomAmount(random: () => number): number {
  const step = 10 ** Math.floor(random() * 5); // 1 (4 places) … 10,000 (whole)
  const units = Math.floor(Math.exp(random() * Math.log(1e8)));
  return Math.max(step, units - (units % step));
}

/** Exact text of an amount: its decimal places, without trailing zeros (`12`, `0.5`, `3.0125`). */
function formatAmount(units: number): string {
  const whole = Math.floor(units / 10_000);
  const fraction = String(units % 10_000)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

const badRowMakers: ((below: (n: number) => number, nextTx: number, client: number) => string)[] = [
  (_b, _tx, c) => `deposit, ${c}\n`, // malformed_row
  (_b, tx, c) => `deposit, ${c}, ${tx}, 1.0, extra\n`, // malformed_row (too many fields)
  (_b, tx, c) => `transfer, ${c}, ${tx}, 1.0\n`, // unknown_type
  (b, tx) => `deposit, ${clientIdMax + 1 + b(1000)}, ${tx}, 1.0\n`, // invalid_client
  (_b, tx) => `withdrawal, -1, ${tx}, 1.0\n`, // invalid_client
  (_b, _tx, c) => `deposit, ${c}, ${txIdMax + 1}, 1.0\n`, // invalid_tx
  (_b, _tx, c) => `dispute, ${c}, x12,\n`, // invalid_tx
  (_b, tx, c) => `deposit, ${c}, ${tx},\n`, // missing_amount
  (_b, tx, c) => `withdrawal, ${c}, ${tx}, 1.23456\n`, // invalid_amount (needs rounding)
  (_b, tx, c) => `deposit, ${c}, ${tx}, -5\n`, // invalid_amount (sign)
  (_b, tx, c) => `deposit, ${c}, ${tx}, 1e3\n`, // invalid_amount (exponent)
  (_b, tx, c) => `deposit, ${c}, ${tx}, 0\n`, // invalid_amount (zero)
  (_b, tx, c) => `deposit, ${c}, ${tx}, 900719925474.0992\n`, // invalid_amount (2^53 units)
  (b, tx, c) => `deposit, ${c}, ${1 + b(Math.max(1, tx - 1))}, 2.5\n`, // duplicate_tx (reused id)
];

function badRow(below: (n: number) => number, nextTx: number, client: number): string {
  return badRowMakers[below(badRowMakers.length)]!(below, nextTx, client);
}
