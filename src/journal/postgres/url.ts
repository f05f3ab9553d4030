/**
 * A PostgreSQL journal's address: `postgres://[user[:password]@]host[:port]/database?journal=NAME`.
 * Our own parameters (`journal`, `retry_seconds`) are taken out; everything else is libpq's and goes
 * to the driver (sslmode, sslrootcert, sslcert, sslkey, host=/socket/dir, application_name, ...),
 * with `sslmode` given libpq's meaning. What the URL leaves out comes from the PG* environment
 * (PGHOST, PGUSER, PGPASSWORD, ...) and ~/.pgpass, as for psql.
 *
 * A URL is printed only through `redactUrl`: never a password, in a log, a report or an error.
 */
import { pgFenceSetting, pgRetrySecondsDefault } from '../../constants.js';
import { usageError } from '../../errors.js';

const defaultJournalName = 'default';
/** A journal name is an identifier an operator types in SQL and URLs: letters, digits, `_ . -`. */
const journalNamePattern = /^[A-Za-z0-9_.-]{1,63}$/;

export interface PostgresTarget {
  /** The connection string the driver gets (our parameters removed). */
  readonly connectionString: string;
  readonly journal: string;
  readonly retrySeconds: number;
  /** The URL with any password removed, for messages. */
  readonly display: string;
}

/** Our own parameters, taken out of the URL before the driver sees it. */
const ownParameters = ['journal', 'retry_seconds'];
/**
 * The parameters node-postgres reads (libpq's names): passed to the driver as they are. Any other
 * name is refused, so that a typo (`jurnal=run-42`) is not a run quietly written to another
 * journal, and a libpq setting the driver would ignore (`dbname`, `requiressl`, `target_session_attrs`)
 * is not taken for one in force.
 */
const driverParameters = new Set([
  ...['host', 'port', 'user', 'password', 'options', 'application_name', 'fallback_application_name'],
  ...['client_encoding', 'connect_timeout', 'keepalives', 'keepalives_idle', 'ssl', 'sslmode', 'sslcert'],
  ...['sslkey', 'sslrootcert', 'sslnegotiation', 'uselibpqcompat', 'statement_timeout', 'query_timeout'],
  ...['lock_timeout', 'idle_in_transaction_session_timeout'],
]);
/** libpq's other key words: known, but not honoured by the driver. */
const libpqOnlyParameters = new Set([
  ...['hostaddr', 'dbname', 'passfile', 'require_auth', 'channel_binding', 'keepalives_interval'],
  ...['keepalives_count', 'tcp_user_timeout', 'replication', 'gssencmode', 'requiressl', 'sslcompression'],
  ...['sslpassword', 'sslcertmode', 'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version'],
  ...['ssl_max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation', 'service', 'target_session_attrs'],
  'load_balance_hosts',
]);

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * libpq's URL with a user and no host (`postgres://user:pw@/db?host=/run/postgresql`, a Unix socket)
 * as one a URL parser reads: the user and password move to parameters (`postgres:///db?…&user=…`),
 * which mean the same to libpq and the driver. Anything else is returned as it is.
 */
export function withoutEmptyHost(location: string): string {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*)@(\/[^?#]*)(\?[^#]*)?$/is.exec(location);
  if (m === null || URL.canParse(location)) return location;
  const [, scheme, userinfo, path, query] = m;
  const colon = userinfo!.indexOf(':');
  // Percent-encoded in the user part, and so in a parameter: there `+` is a space and `&` ends it.
  const param = (text: string) => encodeURIComponent(decodeURIComponent(text));
  let extra: string[];
  try {
    const user = param(colon < 0 ? userinfo! : userinfo!.slice(0, colon));
    extra = [user === '' ? '' : `user=${user}`, colon < 0 ? '' : `password=${param(userinfo!.slice(colon + 1))}`];
  } catch {
    return location; // a malformed %-escape: refused as not a URL
  }
  const params = [query?.slice(1) ?? '', ...extra].filter((p) => p !== '').join('&');
  return `${scheme}${path}${params === '' ? '' : `?${params}`}`;
}

export function parsePostgresUrl(location: string): PostgresTarget {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw usageError(`--journal ${redactUrl(location)}: not a valid PostgreSQL URL`, { usageHint: true });
  }
  const params = url.searchParams;
  for (const key of new Set(params.keys())) {
    if (libpqOnlyParameters.has(key))
      throw usageError(
        `--journal ${redactUrl(location)}: libpq's parameter ${key} is not supported here (the driver would ignore it)`,
        { usageHint: true },
      );
    if (!ownParameters.includes(key) && !driverParameters.has(key))
      throw usageError(
        `--journal ${redactUrl(location)}: unknown parameter ${JSON.stringify(key)} (ours: journal, retry_seconds; the driver's: sslmode, sslrootcert, host, connect_timeout, application_name, ...)`,
        { usageHint: true },
      );
    if (params.getAll(key).length > 1)
      throw usageError(`--journal ${redactUrl(location)}: the parameter ${key} is given more than once`, {
        usageHint: true,
      });
  }
  const journal = params.get('journal') ?? defaultJournalName;
  if (!journalNamePattern.test(journal)) {
    throw usageError(
      `--journal ${redactUrl(location)}: journal name ${JSON.stringify(journal)} must be 1 to 63 letters, digits, '_', '.' or '-'`,
      { usageHint: true },
    );
  }
  const retryText = params.get('retry_seconds');
  const retrySeconds = retryText === null ? pgRetrySecondsDefault : Number(retryText);
  // Plain decimal seconds only: Number() reads '' as 0, '0x10' as 16 and '1e2' as 100.
  const plain = retryText === null || /^(\d+\.?\d*|\.\d+)$/.test(retryText);
  if (!plain || !Number.isFinite(retrySeconds) || retrySeconds < 0 || retrySeconds > 86_400) {
    throw usageError(`--journal ${redactUrl(location)}: retry_seconds must be a number of seconds from 0 to 86400`, {
      usageHint: true,
    });
  }
  // The driver reads any other word as TLS with full verification, or as no TLS: it must be one of these.
  const sslmode = params.get('sslmode');
  if (sslmode !== null && !sslModes.includes(sslmode))
    throw usageError(
      `--journal ${redactUrl(location)}: sslmode ${JSON.stringify(sslmode)} must be one of ${sslModes.join(', ')}`,
      {
        usageHint: true,
      },
    );
  params.delete('journal');
  params.delete('retry_seconds');
  // libpq's sslmode semantics (require = encrypt without verifying), not pg's stricter aliases.
  if (params.has('sslmode') && !params.has('uselibpqcompat')) params.set('uselibpqcompat', 'true');
  return { connectionString: url.toString(), journal, retrySeconds, display: displayOf(location) };
}

/**
 * The journal as messages name it: redacted, and without the fence a cluster node adds to its
 * sessions (`options=-c payments_cluster.generation=G …`), which the operator never wrote.
 */
function displayOf(location: string): string {
  const url = new URL(location);
  const options = url.searchParams.get('options') ?? '';
  const fenceAt = options.indexOf(`-c ${pgFenceSetting}=`);
  if (fenceAt < 0) return redactUrl(location);
  const own = options.slice(0, fenceAt).trim();
  if (own === '') url.searchParams.delete('options');
  else url.searchParams.set('options', own);
  return redactUrl(url.toString());
}

/**
 * libpq's sslmode words the driver knows. `allow` it does not; `prefer` it takes as `require`
 * (TLS, not verified): a server without TLS is refused, where libpq would go on in plain text.
 */
const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** The URL without its password (in the authority or as a `password` parameter). */
export function redactUrl(location: string): string {
  // By hand: anything from "//user:" to the last "@" (a password may hold an unencoded '/' or '@';
  // cutting too much is safe), and every pass…= parameter.
  const byHand = () => location.replace(/(\/\/[^/:@]*:).*@/, '$1***@').replace(/(pass[^=&]*=)[^&]*/gi, '$1***');
  try {
    const url = new URL(location);
    // An '@' after the authority: `u:12/x@h` parses as host u, port 12, path /x@h; the password is in the path.
    if (`${url.pathname}${url.search}${url.hash}`.includes('@')) return byHand();
    if (url.password !== '') url.password = '***';
    for (const key of [...url.searchParams.keys()]) {
      if (/pass/i.test(key)) url.searchParams.set(key, '***');
    }
    return url.toString();
  } catch {
    return byHand();
  }
}
