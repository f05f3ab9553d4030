import { describe, expect, it } from 'vitest';
import { reasonOf } from '../../src/domain/rejection.js';
import { splitRows } from '../../src/io/quoted-rows.js';
import { StringFields, headerlessLayout, judge, readHeader, rowOk, type ParsedRow } from '../../src/io/row.js';

const judgeOf = (fields: string[], layout = headerlessLayout) => {
  const out: ParsedRow = { typeCode: -1, client: -1, tx: -1, amount: -1 };
  const row = new StringFields();
  row.fields = fields;
  const code = judge(row, layout, out);
  return code === rowOk ? out : reasonOf(code);
};

describe('well-formed rows (SPEC checks, in order)', () => {
  it('reads a deposit with white space around every field', () =>
    expect(judgeOf([' deposit', ' 1 ', '\t2', ' 1.5 '])).toEqual({ typeCode: 0, client: 1, tx: 2, amount: 15000 }));
  it('reads types in any case', () => expect(judgeOf(['DePoSiT', '1', '2', '3'])).toMatchObject({ typeCode: 0 }));
  it('accepts 3 fields for dispute/resolve/chargeback and ignores their 4th', () => {
    expect(judgeOf(['dispute', '1', '2'])).toMatchObject({ typeCode: 2, amount: 0 });
    expect(judgeOf(['resolve', '1', '2', 'not-a-number'])).toMatchObject({ typeCode: 3 });
    expect(judgeOf(['chargeback', '1', '2', ''])).toMatchObject({ typeCode: 4 });
  });
  it.each([
    [['deposit', '1'], 'malformed_row'],
    [['deposit', '1', '2', '3', '4'], 'malformed_row'],
    [[''], 'malformed_row'],
    [['', ''], 'malformed_row'],
    [['', '', '', ''], 'unknown_type'],
    [['transfer', '1', '2', '3'], 'unknown_type'],
    [['deposit', '65536', '2', '3'], 'invalid_client'],
    [['deposit', '-1', '2', '3'], 'invalid_client'],
    [['deposit', '1.0', '2', '3'], 'invalid_client'],
    [['deposit', '', '2', '3'], 'invalid_client'],
    [['deposit', '1', '4294967296', '3'], 'invalid_tx'],
    [['deposit', '1', '', '3'], 'invalid_tx'],
    [['deposit', '1', '2'], 'missing_amount'],
    [['withdrawal', '1', '2', '  '], 'missing_amount'],
    [['deposit', '1', '2', '1.00001'], 'invalid_amount'],
    [['deposit', '1', '2', '0'], 'invalid_amount'],
    [['deposit', '1', '2', '900719925474.0992'], 'invalid_amount'],
    [['deposit', 'x', 'y', 'z'], 'invalid_client'],
    [['bogus', 'x', 'y', 'z'], 'unknown_type'],
  ])('%j is %s', (fields, reason) => expect(judgeOf(fields)).toBe(reason));
  it('accepts the extreme ids', () =>
    expect(judgeOf(['deposit', '65535', '4294967295', '1'])).toMatchObject({ client: 65535, tx: 4294967295 }));
  it('accepts leading zeros in ids', () =>
    expect(judgeOf(['deposit', '007', '0001', '1'])).toMatchObject({ client: 7, tx: 1 }));
  it('reads a field quoted after white space as quoted (README design decision 2)', () =>
    expect(judgeOf(splitRows('deposit, "1",2,3', ',', 1, true).rows[0]!)).toMatchObject({ client: 1 }));
});

describe('header rows', () => {
  it('finds columns by name, in any order and case', () =>
    expect(readHeader([' Type ', 'AMOUNT', 'tx', 'client', 'note'])).toEqual({
      kind: 'header',
      layout: { hasHeader: true, type: 0, client: 3, tx: 2, amount: 1 },
    }));
  it('is not a header unless the first field is type', () =>
    expect(readHeader(['client', 'type', 'tx', 'amount'])).toEqual({ kind: 'data' }));
  it('needs client and tx', () => {
    expect(readHeader(['TYPE', '1', '2', '3'])).toEqual({ kind: 'invalid', missing: 'client' });
    expect(readHeader(['type', 'client', 'amount'])).toEqual({ kind: 'invalid', missing: 'tx' });
  });
  it('may lack amount: deposits are then missing_amount', () => {
    const header = readHeader(['type', 'client', 'tx']);
    expect(header.kind).toBe('header');
    if (header.kind === 'header') expect(judgeOf(['deposit', '1', '2', '5'], header.layout)).toBe('missing_amount');
  });
  it('allows any number of fields per row with a header, but at least three', () => {
    const header = readHeader(['type', 'client', 'tx', 'amount']);
    if (header.kind !== 'header') throw new Error('expected a header');
    expect(judgeOf(['deposit', '1', '2', '5', 'extra', 'more'], header.layout)).toMatchObject({ amount: 50000 });
    expect(judgeOf(['deposit', '1'], header.layout)).toBe('malformed_row');
  });
  it('reads a named column past the end of a short row as empty', () => {
    const header = readHeader(['type', 'amount', 'tx', 'client']);
    if (header.kind !== 'header') throw new Error('expected a header');
    expect(judgeOf(['deposit', '10', '1'], header.layout)).toBe('invalid_client');
  });
});
