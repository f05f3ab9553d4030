#!/usr/bin/env node
/**
 * A throw-away NATS server with JetStream (file storage) for the cluster tests and local use.
 *
 *   scripts/test-nats.mjs start [--dir D] [--tls] [--verify] [--user U --password P]   prints the URL
 *   scripts/test-nats.mjs stop  [--dir D]                                   removes everything
 *
 * The server listens on a free port of 127.0.0.1 (or the module's `host` option) and stores its
 * streams under D/store, so a restart (stop the process, start it again on the same port and
 * directory) keeps them. With --tls, a CA and a server certificate for 127.0.0.1/localhost are made
 * with openssl in D, and a client certificate (client.pem, client.key); --verify makes the server
 * require it (mutual TLS).
 *
 * Also a module: tests import startNats / stopNats / restartNats.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function natsServerBin() {
  for (const candidate of [process.env.PAYMENTS_NATS_SERVER, '/usr/bin/nats-server', '/usr/sbin/nats-server']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'nats-server not found: run scripts/ci-nats.sh (apt-get install nats-server) or set PAYMENTS_NATS_SERVER',
  );
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A CA and a server certificate for 127.0.0.1 / localhost, made with openssl. */
function makeCertificates(dir) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=payments test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  ]);
  // A client certificate signed by the same CA, for a server that verifies clients (mutual TLS).
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=payments client',
    '-keyout',
    'client.key',
    '-out',
    'client.csr',
  ]);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  run(
    ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      'client.ext',
      '-out',
      'client.pem',
    ]),
  );
  return certificatesIn(dir);
}

function certificatesIn(dir) {
  return {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

/**
 * Starts a server; resolves once it accepts connections. Returns its state (url, port, dir, pid,
 * ca when TLS). `port` and `dir` may be given to start it again over the same store.
 */
export async function startNats(options = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'payments-test-nats-'));
  mkdirSync(join(dir, 'store'), { recursive: true });
  const port = options.port ?? (await freePort());
  // `host`: another address to listen on (a network namespace's peer reaches the server there).
  const host = options.host ?? '127.0.0.1';
  const lines = [
    `listen: "${host}:${port}"`,
    `jetstream { store_dir: "${join(dir, 'store')}" }`,
    'max_payload: 1048576',
  ];
  let tls;
  if (options.tls) {
    tls = existsSync(join(dir, 'ca.pem')) ? certificatesIn(dir) : makeCertificates(dir);
    // verify: the server refuses a client without a certificate signed by ca_file.
    const verify = options.verify ? `, ca_file: "${tls.ca}", verify: true` : '';
    lines.push(`tls { cert_file: "${tls.cert}", key_file: "${tls.key}"${verify} }`);
  }
  if (options.user) lines.push(`authorization { user: "${options.user}", password: "${options.password}" }`);
  writeFileSync(join(dir, 'nats.conf'), lines.join('\n') + '\n');
  const child = spawn(natsServerBin(), ['-c', join(dir, 'nats.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.unref();
  child.stderr.unref?.();
  const started = Date.now();
  while (!(await portOpen(port, host))) {
    if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${stderr}`);
    if (Date.now() - started > 20_000) throw new Error(`nats-server did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const scheme = options.tls ? 'tls' : 'nats';
  const auth = options.user ? `${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@` : '';
  // The options first: a restart passes the old state, whose pid must not win over the new one.
  const state = {
    ...options,
    url: `${scheme}://${auth}${host}:${port}`,
    port,
    dir,
    pid: child.pid,
    ca: tls?.ca,
    clientCert: tls?.clientCert,
    clientKey: tls?.clientKey,
  };
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  return state;
}

/** Stops the server process (SIGTERM, or `signal`; then waits for it to end). Keeps the store. */
export async function haltNats(state, signal = 'SIGTERM') {
  try {
    process.kill(state.pid, signal);
  } catch {
    return;
  }
  const started = Date.now();
  while (Date.now() - started < 20_000) {
    try {
      process.kill(state.pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  process.kill(state.pid, 'SIGKILL');
}

/**
 * Stops and starts again on the same port and store (streams survive: file storage). `signal`
 * SIGKILL is a crash: nothing is flushed or closed gracefully.
 */
export async function restartNats(state, signal = 'SIGTERM') {
  await haltNats(state, signal);
  const next = await startNats({ ...state, dir: state.dir, port: state.port });
  Object.assign(state, next);
  return state;
}

export async function stopNats(state) {
  await haltNats(state);
  rmSync(state.dir, { recursive: true, force: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  const arg = (name) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const dir = arg('--dir') ?? join(tmpdir(), 'payments-test-nats');
  if (command === 'start') {
    const state = await startNats({
      dir,
      tls: rest.includes('--tls') || rest.includes('--verify'),
      verify: rest.includes('--verify'),
      user: arg('--user'),
      password: arg('--password'),
    });
    process.stdout.write(`${state.url}\n`);
  } else if (command === 'stop') {
    const file = join(dir, 'state.json');
    if (existsSync(file)) await stopNats(JSON.parse(readFileSync(file, 'utf8')));
  } else {
    process.stderr.write(
      'usage: scripts/test-nats.mjs start|stop [--dir D] [--tls] [--verify] [--user U --password P]\n',
    );
    process.exit(2);
  }
}
