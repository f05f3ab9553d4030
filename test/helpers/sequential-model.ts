/**
 * An independent model of the whole job, for the property tests: no streaming, no shards, no
 * typed-array tables, no in-place scanner. It splits the text into lines, decodes each with regular
 * expressions for SPEC's quote rules (second edition), checks fields with regular expressions and
 * decimal.js, and folds the same decider over Maps. Inputs must not hold line breaks inside quoted
 * fields (one row per line).
 */
import { Decimal } from 'decimal.js';
import {
  decide,
  evolve,
  evolveTx,
  initialAccount,
  type AccountCommand,
  type AccountState,
  type TxRecord,
} from '../../src/domain/account.js';
import { invalidAmount } from '../../src/domain/money.js';
import { parseAmountUnitsDecimal } from '../../src/domain/money-reference.js';

export function runSequentialModel(text: string): { accounts: string; rejects: string } {
  const accounts = new Map<number, AccountState>();
  const txs = new Map<number, TxRecord>();
  const seenTx = new Set<number>();
  let rejects = 'line,type,client,tx,amount,reason\n';
  let columns: { type: number; client: number; tx: number; amount: number } | undefined;
  let hasHeader = false;

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const { fields: decoded, malformed } = splitLine(raw);
    const fields = decoded.map((f) => f.trim());
    if (!malformed && fields.length === 1 && fields[0] === '') return;
    if (columns === undefined) {
      const names = fields.map((f) => f.toLowerCase());
      if (names[0] === 'type') {
        if (!names.includes('client') || !names.includes('tx'))
          throw new Error(`header without client/tx at line ${line}`);
        columns = {
          type: 0,
          client: names.indexOf('client'),
          tx: names.indexOf('tx'),
          amount: names.indexOf('amount'),
        };
        hasHeader = true;
        return;
      }
      columns = { type: 0, client: 1, tx: 2, amount: 3 };
    }
    const get = (i: number) => (i < 0 ? '' : (fields[i] ?? ''));
    const echo = [get(columns.type), get(columns.client), get(columns.tx), get(columns.amount)];
    const reject = (reason: string) => {
      rejects += `${line},${echo.map(csv).join(',')},${reason}\n`;
    };
    if (malformed || fields.length < 3 || (!hasHeader && fields.length > 4)) return reject('malformed_row');
    const type = echo[0]!.toLowerCase();
    if (!['deposit', 'withdrawal', 'dispute', 'resolve', 'chargeback'].includes(type)) return reject('unknown_type');
    if (!/^\d+$/.test(echo[1]!) || Number(echo[1]) > 65535) return reject('invalid_client');
    if (!/^\d+$/.test(echo[2]!) || Number(echo[2]) > 4294967295) return reject('invalid_tx');
    const client = Number(echo[1]);
    const tx = Number(echo[2]);
    let amount = 0;
    if (type === 'deposit' || type === 'withdrawal') {
      if (echo[3] === '') return reject('missing_amount');
      amount = parseAmountUnitsDecimal(echo[3]!);
      if (amount === invalidAmount) return reject('invalid_amount');
    }
    const account = accounts.get(client) ?? initialAccount;
    accounts.set(client, account);
    let cmd: AccountCommand;
    if (type === 'deposit' || type === 'withdrawal') {
      const duplicate = seenTx.has(tx);
      seenTx.add(tx);
      cmd = { type: type === 'deposit' ? 'Deposit' : 'Withdraw', client, tx, amount, duplicate };
    } else {
      cmd = {
        type: type === 'dispute' ? 'OpenDispute' : type === 'resolve' ? 'ResolveDispute' : 'ChargeBack',
        client,
        tx,
      };
    }
    const decision = decide(cmd, account, cmd.type === 'Deposit' || cmd.type === 'Withdraw' ? undefined : txs.get(tx));
    if (!decision.ok) return reject(decision.reason);
    accounts.set(client, evolve(account, decision.event));
    txs.set(tx, evolveTx(txs.get(tx), decision.event));
  });

  const money = (units: number) => new Decimal(units).div(10000).toFixed(4);
  let out = 'client,available,held,total,locked\n';
  for (const [client, a] of [...accounts].sort((x, y) => x[0] - y[0])) {
    out += `${client},${money(a.available)},${money(a.held)},${money(a.available + a.held)},${a.locked}\n`;
  }
  return { accounts: out, rejects };
}

/**
 * One line by SPEC "Quotes that are not RFC 4180": a field is white space, a quoted text with doubled
 * quotes, white space; or text without quotes. Anything else makes the row malformed, and the rest
 * of the line is then split on commas as it stands (what the rejects file echoes).
 */
function splitLine(line: string): { fields: string[]; malformed: boolean } {
  const fields: string[] = [];
  let rest = line;
  for (;;) {
    const quoted = /^\s*"((?:[^"]|"")*)"\s*(,|$)/.exec(rest);
    const plain = quoted ? null : /^([^,"]*)(,|$)/.exec(rest);
    const match = quoted ?? plain;
    if (!match) return { fields: [...fields, ...rest.split(',')], malformed: true };
    fields.push(quoted ? quoted[1]!.replace(/""/g, '"') : match[1]!);
    if (match[2] === '') return { fields, malformed: false };
    rest = rest.slice(match[0].length);
  }
}

function csv(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
