/**
 * NATS with mutual TLS: a real nats-server with `verify` refuses a client without a certificate of
 * its CA. Nodes and submit connect with --nats-cert/--nats-key and take the password from a file
 * (--nats-password-file), so no secret is on a command line; a run's every output (stdout, stderr,
 * the report, the metrics, the nodes' logs and /metrics, their command lines) is searched for the
 * secrets. Every wrong setting is one line and exit 2.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine } from '../helpers/cli.js';
import {
  expectedRun,
  logLines,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type ClusterNodeProcess,
  type Expected,
  type World,
} from '../helpers/cluster.js';

const password = 'mtls-Pa55-word-7731';
const token = 'bearer-token-5521-secret';

describe('cluster over NATS with mutual TLS, secrets from files', { timeout: 180_000 }, () => {
  let world: World;
  let small: Expected;
  let url: string;
  let tls: string[];
  const nodes: ClusterNodeProcess[] = [];

  beforeAll(async () => {
    world = await startWorld({ tlsUser: { user: 'payments', password }, verify: true });
    small = await expectedRun(world, 'mtls', 30_000, 23);
    const passwordFile = join(world.dir, 'nats-password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const tokenFile = join(world.dir, 'http-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    url = world.nats.url.replace(`:${password}@`, '@');
    tls = ['--nats-ca', world.nats.ca!, '--nats-cert', world.nats.clientCert!, '--nats-key', world.nats.clientKey!];
    for (const id of ['m1', 'm2'])
      nodes.push(
        startNode(world, id, {
          natsUrl: url,
          extra: [...tls, '--nats-password-file', passwordFile, '--http', '0', '--http-token-file', tokenFile],
        }),
      );
  });
  afterAll(() => stopWorld(world));

  const passwordArgs = () => ['--nats-password-file', join(world.dir, 'nats-password')];

  it('runs over mutual TLS; no secret in any output, log, metric or command line', async () => {
    expect(url).not.toContain(password);
    const report = join(world.dir, 'mtls.report.json');
    const metrics = join(world.dir, 'mtls.metrics.prom');
    const args = [small.input, '--run', 'mtls1', '--shards', '4', ...tls, ...passwordArgs()];
    const got = await submit(world, [...args, '--report', report, '--metrics', metrics], url);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(small.accounts);
    const outputs = [got.stdout, got.stderr, readFileSync(report, 'utf8'), readFileSync(metrics, 'utf8')];
    for (const node of nodes) {
      let port: unknown;
      await until(() => (port = logLines(node).find((l) => l.msg === 'node joined')?.http) !== undefined);
      outputs.push(readFileSync(`/proc/${node.pid}/cmdline`, 'utf8'));
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      outputs.push(await res.text(), node.stderr);
    }
    for (const text of outputs) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(token);
    }
  });

  it('without a client certificate the server refuses: one line naming the certificate options, exit 1', async () => {
    const got = await submit(
      world,
      [small.input, '--run', 'mtls2', '--nats-ca', world.nats.ca!, ...passwordArgs()],
      url,
    );
    // The server drops the handshake; the client cannot tell that from a server that is not there.
    expect(got.code, got.stderr).toBe(1);
    expect(got.stdout).toBe('');
    expect(errorLine(got.stderr)).toMatch(
      /^payments: nats tls:\/\/payments@127\.0\.0\.1:\d+: cannot connect .*--nats-cert, --nats-key/,
    );
  });

  it('a client certificate of another CA is refused: one line naming it, exit 1', async () => {
    const dir = world.dir;
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    run(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=stranger'].concat([
        '-keyout',
        'stranger.key',
        '-out',
        'stranger.pem',
      ]),
    );
    const got = await submit(
      world,
      [small.input, '--run', 'mtls3', '--nats-ca', world.nats.ca!, ...passwordArgs()].concat([
        '--nats-cert',
        join(dir, 'stranger.pem'),
        '--nats-key',
        join(dir, 'stranger.key'),
      ]),
      url,
    );
    expect(got.code, got.stderr).toBe(1);
    expect(errorLine(got.stderr)).toMatch(/cannot connect .*refuse the client certificate --nats-cert/);
    expect(got.stderr.trim().split('\n')).toHaveLength(1);
    expect(got.stderr).not.toContain(password);
  });

  it('wrong settings: one line naming the option, exit 2, before anything is sent', async () => {
    const empty = join(world.dir, 'empty-password');
    writeFileSync(empty, '\n');
    const cases: [string[], string, RegExp][] = [
      [
        ['--nats-cert', world.nats.clientCert!, '--nats-ca', world.nats.ca!],
        url,
        /--nats-cert and --nats-key go together/,
      ],
      [
        [...tls.slice(0, 4), '--nats-key', join(world.dir, 'missing.key')],
        url,
        /^payments: --nats-key .*missing\.key: /,
      ],
      [
        [...tls, '--nats-password-file', empty],
        url,
        /^payments: --nats-password-file .*: the file holds no nats password/,
      ],
      [[...tls, ...passwordArgs()], world.nats.url, /--nats-password-file: the URL holds a password too/],
      [[...tls, ...passwordArgs()], url.replace('payments@', ''), /--nats-password-file: the URL names no user/],
    ];
    for (const [extra, natsUrl, message] of cases) {
      const got = await submit(world, [small.input, '--run', 'mtls4', ...extra], natsUrl);
      expect(got.code, got.stderr).toBe(2);
      expect(got.stderr.trim().split('\n'), got.stderr).toHaveLength(1);
      expect(errorLine(got.stderr)).toMatch(message);
      expect(got.stderr).not.toContain(password);
    }
  });
});
