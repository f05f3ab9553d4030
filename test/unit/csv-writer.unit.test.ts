import { describe, expect, it } from 'vitest';
import { csvField, formatAccounts, formatRejection } from '../../src/io/csv-writer.js';

describe('CSV output (SPEC "Output", "Fine print")', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['a\rb', '"a\rb"'],
    ['a\nb', '"a\nb"'],
    [' tab\tand space ', ' tab\tand space '],
  ])('quotes %j only when it must: %j', (value, written) => expect(csvField(value)).toBe(written));

  it('writes a rejection with its fields as read', () =>
    expect(formatRejection(7, ['DEPOSIT', '007', '1', '1,5'], 'invalid_amount')).toBe(
      '7,DEPOSIT,007,1,"1,5",invalid_amount\n',
    ));

  it('writes accounts sorted by client, four decimals, header first, every line ending in \\n', () => {
    expect(formatAccounts([])).toBe('client,available,held,total,locked\n');
    expect(
      formatAccounts([
        { client: 2, available: -20000, held: 20000, locked: true },
        { client: 1, available: 15000, held: 0, locked: false },
      ]),
    ).toBe('client,available,held,total,locked\n1,1.5000,0.0000,1.5000,false\n2,-2.0000,2.0000,0.0000,true\n');
  });
});
