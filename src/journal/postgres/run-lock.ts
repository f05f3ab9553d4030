/**
 * One run per PostgreSQL journal, as `lock.sqlite` is for a journal directory: the run's own
 * connection holds a session advisory lock on the journal as a whole, taken before the journal is
 * created or opened and held until the run ends, so that its workers then take their partitions'
 * locks without racing another run. Without it, two runs started together on a new journal each
 * took some partitions and both were refused. The server drops the lock when the session ends (a
 * SIGKILLed run's socket is closed by its OS), so it never goes stale.
 *
 * Keys: (hashtext(journal) # migrationLockKey, shard) for a partition (a cluster node holds it
 * shared, and its lease generation's key exclusive: its nodes share a journal), and shard -1 for
 * the journal as a whole.
 *
 * The holder is named by its connection's application_name (`payments run PID@HOST`), which
 * pg_stat_activity shows to any role. A holder on this host whose process is gone is a session the
 * server has not yet noticed is closed: that one is waited for (bounded); any other refuses at once.
 */
import { pgFenceSetting, pgLockWaitSeconds, pgRelockWaitSeconds } from '../../constants.js';
import { hostname } from 'node:os';
import pg from './pg.js';
import { RunError, errorCode, runFailure } from '../../errors.js';
import { migrationLockKey } from './schema.js';

/** The partition number that stands for the journal as a whole in its lock key. */
const wholeJournal = -1;

/** The two SQL expressions of the advisory-lock key of a journal's partition `shard` (or the whole journal). */
function keyParts(journal: string, shard: number): [string, string] {
  return [`hashtext(${pg.escapeLiteral(journal)}) # ${migrationLockKey}`, String(shard)];
}

/** The advisory-lock key of a journal's partition `shard` (or the whole journal), as SQL arguments. */
export function journalLockKey(journal: string, shard: number): string {
  return keyParts(journal, shard).join(', ');
}

/**
 * The advisory-lock key of one lease generation of a journal's partition, as SQL arguments: a
 * cluster node's session holds it, so two sessions of one owner never write at once, while a new
 * owner (another generation) never waits for a stale one.
 */
export function generationLockKey(journal: string, shard: number, generation: string): string {
  return [
    `hashtext(${pg.escapeLiteral(`${journal} generation ${generation}`)}) # ${migrationLockKey}`,
    String(shard),
  ].join(', ');
}

/** PostgreSQL keeps application_name in 63 bytes of printable ASCII (anything else becomes '?'). */
function asApplicationName(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 63);
}

/** The application_name of the connection that holds a run's journal: who holds it, for the one refused. */
export function runApplicationName(): string {
  return asApplicationName(`payments run ${process.pid}@${hostname()}`);
}

interface Holder {
  readonly pid: number;
  readonly host: string;
}

/** Who holds the lock `key`, as its application_name says (undefined when it says nothing we wrote). */
async function lockHolder(client: pg.Client, journal: string): Promise<Holder | undefined> {
  const [first, second] = keyParts(journal, wholeJournal);
  const found = await client.query(
    `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ((${first})::bigint & 4294967295)::oid
        AND l.objid = ((${second})::bigint & 4294967295)::oid`,
  );
  const match = /^payments run (\d+)@(.*)$/.exec(String(found.rows[0]?.name ?? ''));
  return match ? { pid: Number(match[1]), host: match[2]! } : undefined;
}

/** Whether `holder` is a process of this host that no longer runs. */
function goneFromHere(holder: Holder | undefined): boolean {
  if (holder === undefined || holder.host !== runApplicationName().replace(/^payments run \d+@/, '')) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return errorCode(error) === 'ESRCH';
  }
}

function inUse(display: string, holder: Holder | undefined): RunError {
  const who = holder === undefined ? '' : ` (pid ${holder.pid} on ${holder.host})`;
  return new RunError(`journal ${display} is in use by another run${who}`, 2, { kind: 'journal-busy' });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes the journal's run lock on `client` (a session lock: held until the session ends). At the
 * start of a run (`again` false): at once, or exit 2 naming the holder. On a new connection after a
 * lost one (`again` true): waits for a run that started meanwhile to be refused, then exit 1.
 */
export async function lockJournal(client: pg.Client, journal: string, display: string, again: boolean): Promise<void> {
  const key = journalLockKey(journal, wholeJournal);
  const started = Date.now();
  for (;;) {
    const got = await client.query(`SELECT pg_try_advisory_lock(${key}) AS ok`);
    if (got.rows[0].ok) return;
    const waited = Date.now() - started;
    if (again) {
      if (waited > pgRelockWaitSeconds * 1000)
        throw runFailure(`journal ${display}: another run holds the journal since this run's connection was lost`);
    } else {
      const holder = await lockHolder(client, journal);
      if (!goneFromHere(holder) || waited > pgLockWaitSeconds * 1000) throw inUse(display, holder);
    }
    await sleep(50);
  }
}

/**
 * One writer per partition (`where` names it in messages). A local run holds the journal's run
 * lock first, so a partition held by someone else is a run that just died or a cluster node: exit
 * 2. A cluster node's session carries its lease generation (cluster/schema.ts): the fence, not this
 * lock, keeps a stale owner's writes out, so that a new owner never waits for (or has to end) the
 * session of one paused past its lease. It holds the partition's lock shared (a local run or a
 * conversion, which take it exclusive, stay out) and its generation's lock exclusive (a session
 * of its own lost connection that lingers on the server is waited for). A stale owner that
 * reconnects is refused here at once: it never gets a session on the partition again. `again`: a
 * new connection after a lost one.
 */
export async function lockPartition(
  client: pg.Client,
  partition: { journal: string; shard: number; where: string },
  again: boolean,
): Promise<void> {
  const { journal, shard, where } = partition;
  const setting = await client.query(`SELECT current_setting('${pgFenceSetting}', true) AS generation`);
  const generation = String(setting.rows[0].generation ?? '');
  if (generation === '')
    return waitForLock(client, `pg_advisory_lock(${journalLockKey(journal, shard)})`, where, again);
  const lease = await client.query(
    'SELECT generation::text AS generation FROM payments_cluster.leases WHERE run = $1 AND shard = $2',
    [journal, shard],
  );
  const owner = lease.rows[0]?.generation as string | undefined;
  if (owner !== undefined && owner !== generation)
    throw runFailure(
      `${where}: fenced: shard ${shard} of run ${journal} belongs to lease generation ${owner}, this session writes for ${generation}`,
    );
  await waitForLock(client, `pg_advisory_lock_shared(${journalLockKey(journal, shard)})`, where, again);
  await waitForLock(client, `pg_advisory_lock(${generationLockKey(journal, shard, generation)})`, where, again);
}

/**
 * Takes a session advisory lock (`call`: pg_advisory_lock…(key)): at once, or after a bounded
 * wait, or exit 2; exit 1 on a new connection after a lost one (`again`): another run took the
 * journal while this one was away, and this one stops as a run that lost its server does.
 */
async function waitForLock(client: pg.Client, call: string, where: string, again: boolean): Promise<void> {
  const got = await client.query(`SELECT ${call.replace(/^pg_advisory_lock/, 'pg_try_advisory_lock')} AS ok`);
  if (got.rows[0].ok) return;
  // The session of a run that just died (SIGKILL, or our own lost connection) may linger on the
  // server for a moment before it notices: wait a bounded time before calling the journal busy.
  try {
    await client.query(`SET lock_timeout = '${pgLockWaitSeconds}s'`);
    await client.query(`SELECT ${call}`);
    await client.query('RESET lock_timeout');
  } catch (error) {
    if (errorCode(error) !== '55P03') throw error;
    if (again)
      throw runFailure(
        `${where}: still held by another session since this run's connection was lost (a session of this run the server has not dropped, or another run's); run the same command again`,
      );
    throw new RunError(`${where}: in use by another run (its worker holds the partition's lock)`, 2, {
      kind: 'journal-busy',
    });
  }
}
