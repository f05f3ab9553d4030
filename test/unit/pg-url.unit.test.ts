/** The PostgreSQL journal's URL (our parameters, redaction) and password file, without a server. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fencedJournalUrl } from '../../src/cluster/schema.js';
import { RunError } from '../../src/errors.js';
import { pgpassPassword } from '../../src/journal/postgres/pgpass.js';
import { parse as parseConnectionString } from 'pg-connection-string';
import { isPostgresUrl, parsePostgresUrl, redactUrl, withoutEmptyHost } from '../../src/journal/postgres/url.js';

describe('a journal URL', () => {
  it('is recognised by its scheme only', () => {
    expect(isPostgresUrl('postgres://db/x')).toBe(true);
    expect(isPostgresUrl('POSTGRESQL://db/x')).toBe(true);
    expect(isPostgresUrl('./postgres/dir')).toBe(false);
  });

  it("takes libpq's user with no host (a Unix socket) as the same user and password in parameters", () => {
    expect(withoutEmptyHost('postgres://app@/pay?host=/run/postgresql&journal=j')).toBe(
      'postgres:///pay?host=/run/postgresql&journal=j&user=app',
    );
    expect(withoutEmptyHost('postgresql://app:s%40cret@/pay')).toBe('postgresql:///pay?user=app&password=s%40cret');
    const t = parsePostgresUrl(withoutEmptyHost('postgres://app:pw@/pay?host=/tmp/sock&port=5433&journal=j'));
    expect(t.journal).toBe('j');
    expect(t.display).not.toContain('pw');
    // The user part's text, whatever it holds, is the same text as a parameter.
    for (const [userinfo, user, password] of [
      ['alice:pa+ss', 'alice', 'pa+ss'],
      ['alice:x%26sslmode%3Ddisable', 'alice', 'x&sslmode=disable'],
      ['al%20ice:p%C3%A9%3F%23', 'al ice', 'pé?#'],
    ] as const) {
      const parsed = parseConnectionString(withoutEmptyHost(`postgres://${userinfo}@/pay?host=/run/postgresql`));
      expect([parsed.user, parsed.password, parsed.host, parsed.database]).toEqual([
        user,
        password,
        '/run/postgresql',
        'pay',
      ]);
    }
    expect(withoutEmptyHost('postgres://a:%zz@/pay')).toBe('postgres://a:%zz@/pay'); // refused later
    // Anything a URL parser reads already, or that is not this form, is left as it is.
    for (const same of ['postgres://app@db/pay', 'postgres:///pay?host=/tmp', './dir', 'postgres://a@b@/x'])
      expect(withoutEmptyHost(same)).toBe(same);
  });

  it('names the journal and the retry bound; the rest goes to the driver', () => {
    const t = parsePostgresUrl('postgres://u:pw@db:5433/pay?journal=run-42&retry_seconds=5&application_name=x');
    expect(t.journal).toBe('run-42');
    expect(t.retrySeconds).toBe(5);
    expect(t.connectionString).toBe('postgres://u:pw@db:5433/pay?application_name=x');
    expect(t.display).not.toContain('pw');
    const plain = parsePostgresUrl('postgres://db/pay');
    expect(plain.journal).toBe('default');
    expect(plain.retrySeconds).toBe(30);
  });

  it("passes libpq's parameters to the driver", () => {
    const t = parsePostgresUrl(
      'postgres://db/p?host=/run/postgresql&connect_timeout=5&sslrootcert=/ca.pem&options=-c%20x%3D1',
    );
    expect(t.connectionString).toContain('connect_timeout=5');
  });

  it("names a cluster node's journal without the fence it adds to the sessions, keeping the operator's options", () => {
    const fenced = parsePostgresUrl(fencedJournalUrl('postgres://u:pw@db/pay', 'orphan', 6));
    expect(fenced.connectionString).toContain('payments_cluster.generation%3D6');
    expect(fenced.display).toBe('postgres://u:***@db/pay?journal=orphan');
    const own = parsePostgresUrl('postgres://db/pay?journal=j&options=-c%20statement_timeout%3D5000');
    expect(own.display).toBe('postgres://db/pay?journal=j&options=-c%20statement_timeout%3D5000');
    // The operator's options stay in the node's sessions, the fence after them (the last -c wins).
    const both = parsePostgresUrl(fencedJournalUrl('postgres://db/pay?options=-c%20statement_timeout%3D5000', 'r', 2));
    expect(new URL(both.connectionString).searchParams.get('options')).toBe(
      '-c statement_timeout=5000 -c payments_cluster.generation=2 -c idle_in_transaction_session_timeout=5000',
    );
    expect(both.display).toBe('postgres://db/pay?options=-c+statement_timeout%3D5000&journal=r');
  });

  it('takes only the sslmode words the driver honours as libpq does', () => {
    for (const mode of ['disable', 'prefer', 'require', 'verify-full'])
      expect(() => parsePostgresUrl(`postgres://db/p?sslmode=${mode}`)).not.toThrow();
    for (const mode of ['bogus', 'allow', 'no-verify', 'REQUIRE', ''])
      expect(() => parsePostgresUrl(`postgres://u:secret@db/p?sslmode=${mode}`)).toThrow(
        /sslmode ".*" must be one of disable, prefer, require, verify-ca, verify-full$/,
      );
  });
  it('gives sslmode its libpq meaning', () => {
    expect(parsePostgresUrl('postgres://db/p?sslmode=require').connectionString).toMatch(/uselibpqcompat=true/);
  });

  it.each([
    ['postgres://db/p?journal=a%20b', /journal name/],
    ['postgres://db/p?journal=', /journal name/],
    ['postgres://db/p?retry_seconds=-1', /retry_seconds/],
    // Number() would read these as 0, 16, 100 and 5: only plain decimal seconds are a value.
    ['postgres://db/p?retry_seconds=', /retry_seconds/],
    ['postgres://db/p?retry_seconds=0x10', /retry_seconds/],
    ['postgres://db/p?retry_seconds=1e2', /retry_seconds/],
    ['postgres://db/p?retry_seconds=%205', /retry_seconds/],
    ['postgres://u:secret@[bad/p', /not a valid PostgreSQL URL/],
    // A typo is not a run quietly written to the default journal; a repeat is not a guess.
    ['postgres://u:secret@db/p?jurnal=run-42', /unknown parameter "jurnal"/],
    ['postgres://u:secret@db/p?dbname=prod', /parameter dbname is not supported here/],
    ['postgres://u:secret@db/p?requiressl=1', /parameter requiressl is not supported here/],
    ['postgres://u:secret@db/p?journal=x&journal=y', /journal is given more than once/],
    ['postgres://u:secret@db/p?sslmode=require&sslmode=disable', /sslmode is given more than once/],
  ])('refuses %s (exit 2) without its password', (url, message) => {
    let error: unknown;
    try {
      parsePostgresUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).exitCode).toBe(2);
    expect((error as RunError).message).toMatch(message);
    expect((error as RunError).message).not.toContain('secret');
  });

  it('is printed without any password', () => {
    expect(redactUrl('postgres://u:s3cret@h/db?journal=j')).toBe('postgres://u:***@h/db?journal=j');
    expect(redactUrl('postgres://h/db?password=s3cret&sslpassword=k')).not.toMatch(/s3cret|=k/);
    expect(redactUrl('postgres://u:s3cret@[bad')).not.toContain('s3cret');
    // An unencoded '/' or '@' in the password: never printed, whether the URL parses or not.
    for (const url of [
      'postgres://u:SEC/RET2@127.0.0.1:5432/db',
      'postgres://u:123/RET@h/db',
      'postgres://u:p@ss/w@h/db?journal=j',
      'postgres://u:a/b@c@h:5432/db',
    ]) {
      const shown = redactUrl(url);
      expect(shown, url).not.toMatch(/RET|ss\/w|a\/b/);
      expect(shown, url).toContain('***');
    }
  });
});

describe('the password file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgpass-unit-'));
  const lookup = { host: 'db', port: 5432, database: 'pay', user: 'app' };
  const write = (text: string, mode = 0o600) => {
    const path = join(dir, `pgpass-${Math.random()}`);
    writeFileSync(path, text, { mode });
    return path;
  };

  it('gives the first matching line, with wildcards and escapes', () => {
    const path = write('# comment\nother:*:*:*:no\ndb:5432:pay:app:a\\:b\\\\c\n*:*:*:*:fallback\n');
    expect(pgpassPassword(lookup, path)).toBe('a:b\\c');
    expect(pgpassPassword({ ...lookup, user: 'x' }, path)).toBe('fallback');
  });

  it('ignores a file that others can read, as libpq does', () => {
    expect(pgpassPassword(lookup, write('*:*:*:*:open\n', 0o644))).toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
  });
});
