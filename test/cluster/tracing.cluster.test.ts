/**
 * One run is one trace across processes: `payments submit` and two `payments node` processes send
 * their spans to a real OTLP/HTTP receiver; the nodes' batch spans continue the submit's publish
 * spans (W3C context in the NATS headers), in their worker threads. Also: a live node's /metrics
 * passes `promtool check metrics`.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  expectedRun,
  freePort,
  startNode,
  startWorld,
  stopWorld,
  until,
  type Expected,
  type World,
} from '../helpers/cluster.js';
import { spanTree, startReceiver, tracingEnv, type Receiver } from '../helpers/otlp-receiver.js';

describe('cluster: traces and metrics of a run', { timeout: 180_000 }, () => {
  let world: World;
  let receiver: Receiver;
  let small: Expected;
  let httpPort: number;

  beforeAll(async () => {
    world = await startWorld();
    receiver = await startReceiver();
    small = await expectedRun(world, 'traced', 20_000, 5);
    httpPort = await freePort();
    startNode(world, 'ta', { env: tracingEnv(receiver, 'payments-node'), extra: ['--http', String(httpPort)] });
    startNode(world, 'tb', { env: tracingEnv(receiver, 'payments-node') });
  });
  afterAll(async () => {
    await stopWorld(world);
    await receiver?.close();
  });

  it('submit → publish per shard → the nodes’ batch apply → journal commit, in one trace', async () => {
    const env = tracingEnv(receiver, 'payments-submit');
    const got = await runCli(
      ['submit', small.input, '--run', 't1', '--shards', '4', '--nats', world.nats.url, '--journal', world.journal],
      {
        env,
      },
    );
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(small.accounts);
    const submitSpan = () => receiver.spans.find((s) => s.name === 'payments.submit');
    await receiver.waitFor(() => submitSpan() !== undefined);
    const traceId = submitSpan()!.traceId;
    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    // Every shard's batches applied (and committed) under that shard's publish span.
    const publishes = () => inTrace().filter((s) => s.name === 'payments.publish');
    const applied = () => inTrace().filter((s) => s.name === 'payments.shard.apply');
    await receiver.waitFor(
      () => new Set(applied().map((s) => s.attributes['payments.shard'])).size === 4 && publishes().length === 4,
    );
    const tree = spanTree(inTrace());
    const root = submitSpan()!;
    expect(root.parentSpanId).toBe('');
    expect(root.attributes['payments.run']).toBe('t1');
    expect(
      inTrace().filter((s) => s.name === 'payments.wait' && s.parentSpanId === root.spanId),
      tree,
    ).toHaveLength(1);
    for (const p of publishes()) expect(p.parentSpanId, tree).toBe(root.spanId);
    for (const a of applied()) {
      expect(a.service).toBe('payments-node');
      const publish = publishes().find((p) => p.spanId === a.parentSpanId);
      expect(publish, tree).toBeDefined();
      expect(publish!.attributes['payments.shard']).toBe(a.attributes['payments.shard']);
    }
    await receiver.waitFor(() =>
      inTrace().some((c) => c.name === 'payments.journal.commit' && applied().some((a) => a.spanId === c.parentSpanId)),
    );
    // The rows the nodes applied under this trace are the rows submit routed.
    const rows = applied().reduce((n, s) => n + Number(s.attributes['payments.rows']), 0);
    const published = publishes().reduce((n, s) => n + Number(s.attributes['payments.rows']), 0);
    expect(rows).toBe(published);
    // Each shard's claim is a span with the worker's recovery under it (a claim given back while
    // still recovering, when a rebalancing moves it, has its recovery cut short: no child then).
    await receiver.waitFor((spans) => {
      const recovered = spans
        .filter((s) => s.name === 'payments.node.claim' && s.attributes['payments.run'] === 't1')
        .filter((c) => spans.some((r) => r.name === 'payments.shard.recover' && r.parentSpanId === c.spanId));
      return new Set(recovered.map((c) => c.attributes['payments.shard'])).size === 4;
    });
    expect(receiver.bad).toEqual([]);
    console.log(`span tree of run t1 (submit's trace):\n${tree}`);
  });

  it('a live node’s /metrics passes promtool check metrics', async () => {
    let text = '';
    await until(async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`).catch(() => undefined);
      text = res?.ok ? await res.text() : '';
      return text.includes('payments_node_rows_applied_total');
    });
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
