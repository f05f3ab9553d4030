/**
 * SPEC's "well-formed" checks for one CSV row, in SPEC's order. Runs on the parsing thread for every
 * row, so it writes into a reusable `ParsedRow` instead of allocating one.
 */
import { invalidAmount, parseAmountUnits } from '../domain/money.js';
import { reasonCode } from '../domain/rejection.js';
import { carriesAmount, txTypeCode } from '../domain/transaction.js';

/** Where each column sits in a row: from the header, or the fixed order without one. */
export interface ColumnLayout {
  readonly hasHeader: boolean;
  readonly type: number;
  readonly client: number;
  readonly tx: number;
  readonly amount: number; // -1: the header has no amount column
}

export const headerlessLayout: ColumnLayout = { hasHeader: false, type: 0, client: 1, tx: 2, amount: 3 };

export interface ParsedRow {
  typeCode: number;
  client: number;
  tx: number;
  amount: number; // minor units; 0 for types without an amount
}

export const rowOk = -1;

const malformedRow = reasonCode('malformed_row');
const unknownType = reasonCode('unknown_type');
const invalidClient = reasonCode('invalid_client');
const invalidTx = reasonCode('invalid_tx');
const missingAmount = reasonCode('missing_amount');
const invalidAmountReason = reasonCode('invalid_amount');

const clientMax = 0xffff;
const txMax = 0xffffffff;

/** Checks one row; on success fills `out` and returns rowOk, otherwise returns the reason code. */
export function parseRow(fields: readonly string[], layout: ColumnLayout, out: ParsedRow): number {
  const n = fields.length;
  if (n < 3 || (!layout.hasHeader && n > 4)) return malformedRow;
  const typeCode = txTypeCode(field(fields, layout.type));
  if (typeCode < 0) return unknownType;
  const client = parseWhole(field(fields, layout.client), clientMax);
  if (client < 0) return invalidClient;
  const tx = parseWhole(field(fields, layout.tx), txMax);
  if (tx < 0) return invalidTx;
  let amount = 0;
  if (carriesAmount(typeCode)) {
    const text = layout.amount < 0 ? '' : field(fields, layout.amount);
    if (text.length === 0) return missingAmount;
    amount = parseAmountUnits(text);
    if (amount === invalidAmount) return invalidAmountReason;
  }
  out.typeCode = typeCode;
  out.client = client;
  out.tx = tx;
  out.amount = amount;
  return rowOk;
}

/** A field trimmed of white space; absent fields are empty. */
export function field(fields: readonly string[], index: number): string {
  const raw = fields[index];
  return raw === undefined ? '' : unquoteLoose(raw.trim());
}

/**
 * RFC 4180 quoting starts at a field's first character, so papaparse reads `deposit, "1"` as the
 * literal text ` "1"`. Since SPEC ignores white space around fields, such a field is unquoted here.
 */
function unquoteLoose(text: string): string {
  if (text.length < 2 || text.charCodeAt(0) !== 34 || text.charCodeAt(text.length - 1) !== 34) return text;
  const inner = text.slice(1, -1);
  // Valid only if every inner quote is doubled.
  if (/^(?:[^"]|"")*$/.test(inner)) return inner.replace(/""/g, '"');
  return text;
}

/** A whole number of digits only, at most `max`; -1 otherwise. Leading zeros are allowed. */
export function parseWhole(text: string, max: number): number {
  const n = text.length;
  if (n === 0) return -1;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
    if (value > max) return -1;
  }
  return value;
}

/** The row's fields as a rejected row echoes them: type, client, tx, amount, trimmed, '' if absent. */
export function echoFields(fields: readonly string[], layout: ColumnLayout): [string, string, string, string] {
  return [
    field(fields, layout.type),
    field(fields, layout.client),
    field(fields, layout.tx),
    layout.amount < 0 ? '' : field(fields, layout.amount),
  ];
}

/** A blank line: papaparse gives one field that is empty or white space only. */
export function isBlankRow(fields: readonly string[]): boolean {
  return fields.length === 1 && fields[0]!.trim().length === 0;
}

export type HeaderResult = { kind: 'data' } | { kind: 'header'; layout: ColumnLayout } | { kind: 'invalid'; missing: string };

/** SPEC: the first non-empty line is a header when its first field is `type` (any case, trimmed). */
export function readHeader(fields: readonly string[]): HeaderResult {
  const names = fields.map((f) => f.trim().toLowerCase());
  if (names[0] !== 'type') return { kind: 'data' };
  const client = names.indexOf('client');
  const tx = names.indexOf('tx');
  if (client < 0) return { kind: 'invalid', missing: 'client' };
  if (tx < 0) return { kind: 'invalid', missing: 'tx' };
  return { kind: 'header', layout: { hasHeader: true, type: 0, client, tx, amount: names.indexOf('amount') } };
}
