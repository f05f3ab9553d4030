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

  const balance = new Float64Array(clients);
  const locked = new Uint8Array(clients);
  const depTx = new Uint32Array(clients * depositSlots);
  const depAmount = new Float64Array(clients * depositSlots);
  const depCount = new Uint32Array(clients);
  const disputeTx = new Uint32Array(clients * disputeSlots);
  const disputeAmount = new Float64Array(clients * disputeSlots);
  const disputeCount = new Uint8Array(clients);
  let nextTx = 1;

  const weights = [mix.deposits, mix.withdrawals, mix.disputes, mix.resolves, mix.chargebacks];
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const clientId = (index: number): number => (index + 1) & clientIdMax; // wraps within the u16 range

  let piece = 'type, client, tx, amount\n';
  for (let row = 0; row < rows; row++) {
    if (mix.badRate > 0 && random() < mix.badRate) {
      piece += badRow(below, nextTx, clientId(below(clients)));
    } else {
      const c = below(clients);
      const id = clientId(c);
      let pick = random() * totalWeight;
      let kind = 0;
      while (kind < 4 && pick >= weights[kind]!) pick -= weights[kind++]!;
      if (kind === 2 && depCount[c] === 0) kind = 0;
      if ((kind === 3 || kind === 4) && disputeCount[c] === 0) kind = depCount[c]! > 0 ? 2 : 0;
      if (kind >= 2 && random() < mix.strayRefs) {
        // An unknown tx id, or (when there is one) another client's deposit.
        const other = below(clients);
        const ref =
          other !== c && depCount[other]! > 0 ? depTx[other * depositSlots]! : nextTx + 1_000_000 + below(1000);
        piece += `${['dispute', 'resolve', 'chargeback'][kind - 2]}, ${id}, ${ref},\n`;
      } else if (kind === 0) {
        const amount = randomAmount(random);
        const tx = nextTx++;
        const slot = c * depositSlots + (depCount[c]! % depositSlots);
        depTx[slot] = tx;
        depAmount[slot] = amount;
        depCount[c]!++;
        balance[c]! += amount;
        piece += `deposit, ${id}, ${tx}, ${formatAmount(amount)}\n`;
      } else if (kind === 1) {
        const overdraw = balance[c]! <= 0 || random() < mix.overdrafts;
        const amount = overdraw
          ? Math.max(1, balance[c]!) + 1 + below(1_000_000)
          : Math.min(balance[c]!, randomAmount(random));
        if (!overdraw && !locked[c]) balance[c]! -= amount;
        piece += `withdrawal, ${id}, ${nextTx++}, ${formatAmount(amount)}\n`;
      } else if (kind === 2) {
        const slot = c * depositSlots + below(Math.min(depCount[c]!, depositSlots));
        const open = disputeCount[c]!;
        if (open < disputeSlots) {
          disputeTx[c * disputeSlots + open] = depTx[slot]!;
          disputeAmount[c * disputeSlots + open] = depAmount[slot]!;
          disputeCount[c] = open + 1;
          balance[c]! -= depAmount[slot]!;
        }
        piece += `dispute, ${id}, ${depTx[slot]},\n`;
      } else {
        const last = c * disputeSlots + disputeCount[c]! - 1;
        disputeCount[c]!--;
        if (kind === 3) balance[c]! += disputeAmount[last]!;
        else locked[c] = 1;
        piece += `${kind === 3 ? 'resolve' : 'chargeback'}, ${id}, ${disputeTx[last]},\n`;
      }
    }
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
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
