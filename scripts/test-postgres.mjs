#!/usr/bin/env node
/**
 * A throw-away PostgreSQL 15 server for the tests and for local use.
 *
 *   scripts/test-postgres.mjs start [--dir D] [--fsync] [--stat-statements]   prints the URL
 *   scripts/test-postgres.mjs url   [--dir D]
 *   scripts/test-postgres.mjs restart [--dir D]
 *   scripts/test-postgres.mjs stop  [--dir D]                                  removes everything
 *
 * initdb runs as the `postgres` OS user when we are root (as here and in CI), into a temporary
 * directory that user owns; the server listens on a free port of 127.0.0.1 and on a unix socket in
 * that directory. Local (socket) connections are trusted; TCP connections need the password, which
 * the printed URL carries (the tests check wrong passwords over TCP). fsync is off unless --fsync:
 * a test server's durability against power loss is not what the tests measure.
 *
 * Also a module: the vitest global setup imports startServer/stopServer.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const defaultDir = join(tmpdir(), `payments-test-postgres-${userInfo().uid}`);

/** The directory of PostgreSQL 15's server binaries (Debian's layout, else PATH). */
export function postgresBinDir() {
  const candidates = [process.env.PAYMENTS_PG_BIN, '/usr/lib/postgresql/15/bin'].filter(Boolean);
  for (const dir of candidates) if (existsSync(join(dir, 'initdb'))) return dir;
  try {
    const listed = execFileSync('dpkg', ['-L', 'postgresql-15'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const initdb = listed.split('\n').find((l) => l.endsWith('/bin/initdb'));
    if (initdb) return initdb.slice(0, -'/initdb'.length);
  } catch {
    // not Debian, or the package is absent: try PATH below
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim().replace(/\/initdb$/, '');
  throw new Error(
    'PostgreSQL 15 server binaries not found (initdb): install postgresql-15, set PAYMENTS_PG_BIN, ' +
      'or point PAYMENTS_TEST_POSTGRES_URL at a server',
  );
}

const asRoot = process.getuid?.() === 0;

/** Runs a server binary as the `postgres` OS user when we are root (PostgreSQL refuses to run as root). */
function runAsOwner(bin, args, options = {}) {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${bin.split('/').pop()} ${args[0]} failed (exit ${result.status}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function statePath(dir) {
  return join(dir, 'server.json');
}

export function readState(dir = defaultDir) {
  if (!existsSync(statePath(dir))) return undefined;
  return JSON.parse(readFileSync(statePath(dir), 'utf8'));
}

/**
 * Starts a fresh server in `dir` (a new temporary directory when omitted). Returns its state:
 * { dir, dataDir, port, socketDir, url, adminUrl, password }.
 */
export async function startServer({ dir, fsync = false, statStatements = false, listen = [] } = {}) {
  const bin = postgresBinDir();
  const root = dir ?? mkdtempSync(join(tmpdir(), 'payments-pg-'));
  mkdirSync(root, { recursive: true });
  if (asRoot) chownSync(root, uidOf('postgres'), gidOf('postgres'));
  const dataDir = join(root, 'data');
  const password = randomBytes(12).toString('hex');
  const pwfile = join(root, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) chownSync(pwfile, uidOf('postgres'), gidOf('postgres'));
  runAsOwner(join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--pwfile',
    pwfile,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '--no-sync',
    '--encoding=UTF8',
    '--locale=C',
  ]);
  rmSync(pwfile);
  const settings = [
    `listen_addresses = '${['127.0.0.1', ...listen].join(',')}'`,
    `unix_socket_directories = '${root}'`,
    `fsync = ${fsync ? 'on' : 'off'}`,
    `full_page_writes = ${fsync ? 'on' : 'off'}`,
    `max_connections = 200`,
    `logging_collector = off`,
    ...(statStatements ? [`shared_preload_libraries = 'pg_stat_statements'`] : []),
  ];
  const conf = join(dataDir, 'postgresql.auto.conf');
  writeFileSync(conf, `${readFileSync(conf, 'utf8')}${settings.join('\n')}\n`);
  // Clients of the other addresses (a network namespace's peer) log in with the password too.
  if (listen.length > 0) {
    const hba = join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, `${readFileSync(hba, 'utf8')}host all all 0.0.0.0/0 scram-sha-256\n`);
  }
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      runAsOwner(join(bin, 'pg_ctl'), [
        '-D',
        dataDir,
        '-l',
        join(root, 'server.log'),
        '-o',
        `-p ${port}`,
        '-w',
        'start',
      ]);
      break;
    } catch (error) {
      // Another process took the port between our probe and the server's bind: try another.
      if (attempt >= 4) throw new Error(`${error.message}\n${tail(join(root, 'server.log'))}`);
    }
  }
  const state = {
    dir: root,
    dataDir,
    port,
    socketDir: root,
    password,
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    bin,
  };
  writeFileSync(statePath(root), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return state;
}

/** Restarts the server (fast shutdown: open connections are cut), keeping its data and port. */
export function restartServer(state) {
  runAsOwner(join(state.bin, 'pg_ctl'), [
    '-D',
    state.dataDir,
    '-l',
    join(state.dir, 'server.log'),
    '-o',
    `-p ${state.port}`,
    '-m',
    'fast',
    '-w',
    'restart',
  ]);
}

/** Stops the server (fast shutdown), keeping its data and port: resumeServer starts it again. */
export function haltServer(state) {
  runAsOwner(join(state.bin, 'pg_ctl'), ['-D', state.dataDir, '-m', 'fast', '-w', 'stop']);
}

/** Starts a halted server again on its data and port. */
export function resumeServer(state) {
  runAsOwner(join(state.bin, 'pg_ctl'), [
    '-D',
    state.dataDir,
    '-l',
    join(state.dir, 'server.log'),
    '-o',
    `-p ${state.port}`,
    '-w',
    'start',
  ]);
}

/** Stops the server at once and removes its directory. */
export function stopServer(state) {
  if (existsSync(join(state.dataDir, 'postmaster.pid'))) {
    try {
      runAsOwner(join(state.bin, 'pg_ctl'), ['-D', state.dataDir, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
  }
  rmSync(state.dir, { recursive: true, force: true });
}

function idOf(flag, name) {
  return Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
}
function uidOf(name) {
  return idOf('-u', name);
}
function gidOf(name) {
  return idOf('-g', name);
}

function tail(path) {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

async function main(argv) {
  const [command, ...rest] = argv;
  const flag = (name) => rest.includes(name);
  const at = rest.indexOf('--dir');
  const dir = at >= 0 ? rest[at + 1] : defaultDir;
  switch (command) {
    case 'start': {
      const existing = readState(dir);
      if (existing) {
        console.error(`a server is already running in ${dir}; stop it first (scripts/test-postgres.mjs stop)`);
        return 2;
      }
      const state = await startServer({ dir, fsync: flag('--fsync'), statStatements: flag('--stat-statements') });
      console.log(state.url);
      console.error(
        `PostgreSQL on 127.0.0.1:${state.port} and ${state.socketDir}; stop with: scripts/test-postgres.mjs stop`,
      );
      return 0;
    }
    case 'url':
    case 'restart':
    case 'stop': {
      const state = readState(dir);
      if (!state) {
        console.error(`no test server in ${dir} (start one with: scripts/test-postgres.mjs start)`);
        return 2;
      }
      if (command === 'url') console.log(state.url);
      else if (command === 'restart') restartServer(state);
      else stopServer(state);
      return 0;
    }
    default:
      console.error('usage: scripts/test-postgres.mjs start|url|restart|stop [--dir D] [--fsync] [--stat-statements]');
      return 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error) => {
      console.error(`test-postgres: ${error.message}`);
      process.exitCode = 1;
    },
  );
}
