/**
 * The alert rules against the real thing: a real Prometheus (Debian's, installed by
 * scripts/ci-prometheus.sh) scrapes real `payments node` processes every second and evaluates
 * deploy/prometheus/payments.rules.yaml; when the nodes are killed, the matching alert is seen
 * firing through Prometheus' HTTP API; when a shard's stream loses a batch, the shard's quarantine
 * alert fires with its run and shard. The rules are loaded with every `for:` cut to 1 s (the
 * durations themselves are unit-tested by promtool, test/int/prometheus-rules.int.test.ts).
 *
 * Needs the node metrics of the shared metrics contract (payments_node_ready, …).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import {
  expectedRun,
  freePort,
  startNode,
  startWorld,
  stopWorld,
  submit,
  until,
  type ClusterNodeProcess,
  type World,
} from '../helpers/cluster.js';
import { deleteMessage } from '../helpers/jetstream.js';

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

class Prometheus {
  readonly child: ChildProcess;
  log = '';

  constructor(
    readonly dir: string,
    readonly port: number,
    targets: string[],
  ) {
    const rules = readFileSync(join(repoRoot, 'deploy/prometheus/payments.rules.yaml'), 'utf8').replace(
      /^(\s+for: )\S+$/gm,
      '$11s',
    );
    writeFileSync(join(dir, 'payments.rules.yaml'), rules);
    writeFileSync(
      join(dir, 'prometheus.yaml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files: [payments.rules.yaml]',
        'scrape_configs:',
        '  - job_name: payments-node',
        `    static_configs: [{ targets: [${targets.map((t) => `"${t}"`).join(', ')}] }]`,
        '',
      ].join('\n'),
    );
    this.child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yaml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
  }

  async api<T>(path: string): Promise<T | undefined> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/${path}`).catch(() => undefined);
    if (!res?.ok) return undefined;
    return ((await res.json()) as { data: T }).data;
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>('alerts'))?.alerts ?? [];
  }

  /** Values of an instant query, one per series. */
  async query(expr: string): Promise<number[]> {
    const data = await this.api<{ result: { value: [number, string] }[] }>(`query?query=${encodeURIComponent(expr)}`);
    return (data?.result ?? []).map((r) => Number(r.value[1]));
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Polls `condition` until it holds (true) or `ms` pass (false): for a precondition with a message. */
async function within(ms: number, condition: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe('alerts: a real Prometheus scraping real nodes', { timeout: 180_000 }, () => {
  let world: World;
  let prometheus: Prometheus | undefined;
  let dir: string;
  const nodes: ClusterNodeProcess[] = [];

  beforeAll(async () => {
    world = await startWorld();
    dir = mkdtempSync(join(tmpdir(), 'payments-prometheus-'));
    // A run whose stream lost a batch before any node could apply it: its shard will be quarantined.
    const expected = await expectedRun(world, 'quar', 60_000, 91);
    expect((await submit(world, [expected.input, '--run', 'quar', '--shards', '2', '--detach'])).code).toBe(0);
    expect(await deleteMessage(world, 'PAYMENTS_quar', 3)).toBeGreaterThan(3);
    const ports = [await freePort(), await freePort()];
    ports.forEach((port, i) => nodes.push(startNode(world, `p${i}`, { extra: ['--http', String(port)] })));
    prometheus = new Prometheus(
      dir,
      await freePort(),
      ports.map((p) => `127.0.0.1:${p}`),
    );
  });
  afterAll(async () => {
    prometheus?.stop();
    await stopWorld(world);
    rmSync(dir, { recursive: true, force: true });
  });

  const firing = async (name: string) =>
    (await prometheus!.alerts()).filter((a) => a.labels.alertname === name && a.state === 'firing');

  it('a shard quarantined (a batch lost from its stream): its alert fires naming the run and shard', async () => {
    // beforeAll published the run and deleted one of its batches before any node started.
    await until(async () => (await firing('PaymentsShardQuarantined')).length === 1);
    const [alert] = await firing('PaymentsShardQuarantined');
    expect(alert!.labels).toMatchObject({ run: 'quar', severity: 'critical' });
    expect(['0', '1']).toContain(alert!.labels.shard);
  });

  it('no ready node: quiet while the nodes are ready, firing once they are killed', async () => {
    // Both nodes scraped; then both ready (the contract's payments_node_ready), and the rule quiet.
    await until(async () => (await prometheus!.query('up == 1')).length === 2);
    const ready = await within(20_000, async () => (await prometheus!.query('sum(payments_node_ready)'))[0] === 2);
    expect(ready, 'both nodes export payments_node_ready = 1 (the node metrics of the metrics contract)').toBe(true);
    await until(async () => (await prometheus!.query('ALERTS{alertname="PaymentsNoReadyNode"}')).length === 0);
    expect(await firing('PaymentsNoReadyNode')).toEqual([]);
    for (const node of nodes) await node.kill('SIGKILL');
    await until(async () => (await firing('PaymentsNoReadyNode')).length === 1);
    const [alert] = await firing('PaymentsNoReadyNode');
    expect(alert!.labels.severity).toBe('critical');
  });
});
