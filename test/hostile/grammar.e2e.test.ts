/**
 * The grammar's edges, tried as an attacker would: look-alike keywords, rows at exactly the length
 * limit, control characters in what an error line echoes, and out-of-range `generate` options.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'payments-grammar-'));
const header = 'client,available,held,total,locked\n';

describe('look-alike keywords', () => {
  it('chargebac\\u212a (KELVIN SIGN) is unknown_type and locks nothing', async () => {
    const dir = tmp();
    const rejects = join(dir, 'rejects.csv');
    const input = 'type,client,tx,amount\ndeposit,1,1,5\ndispute,1,1,\nchargebac\u212a,1,1,\n';
    const result = await runCli(['-', '--rejects', rejects, '-q'], { stdin: input });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${header}1,0.0000,5.0000,5.0000,false\n`);
    expect(readFileSync(rejects, 'utf8')).toBe(
      'line,type,client,tx,amount,reason\n4,chargebac\u212a,1,1,,unknown_type\n',
    );
  });
});
