/**
 * A node's Prometheus metrics (served at /metrics): the names are a contract with the alert rules
 * (docs/operations.md). Series labelled by run and shard are removed when the shard leaves the node
 * (a quarantined shard's state series stays while it is quarantined), so labels stay bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterView } from './expiry.js';
import type { DeadLetterReason } from './shard-health.js';
import { stateOf, type ShardMetrics, type ShardState, type ShardStatus } from './shard-status.js';

const states: readonly ShardState[] = ['recovering', 'running', 'failing', 'quarantined', 'finished'];
const shardLabels = ['run', 'shard'] as const;
const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class NodeMetrics implements ShardMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
  private readonly rows = new Counter({
    name: 'payments_node_rows_applied_total',
    help: 'Rows applied, by run and shard',
    labelNames: shardLabels,
    registers: this.registers,
  });
  private readonly applySeconds = new Histogram({
    name: 'payments_node_batch_apply_seconds',
    help: 'Time to apply and commit one batch',
    labelNames: shardLabels,
    buckets: secondsBuckets,
    registers: this.registers,
  });
  private readonly commitSeconds = new Histogram({
    name: 'payments_node_commit_seconds',
    help: 'Time to commit one batch to the journal (apart from applying it)',
    labelNames: shardLabels,
    buckets: secondsBuckets,
    registers: this.registers,
  });
  private readonly pending = new Gauge({
    name: 'payments_node_shard_lag_messages',
    help: 'Batches stored in the stream after the last one applied, by run and shard',
    labelNames: shardLabels,
    registers: this.registers,
  });
  private readonly state = new Gauge({
    name: 'payments_node_shard_state',
    help: 'A shard of this node: 1 for its current state (recovering, running, failing, quarantined, finished)',
    labelNames: [...shardLabels, 'state'],
    registers: this.registers,
  });
  readonly ownership = new Counter({
    name: 'payments_node_ownership_changes_total',
    help: 'Shards claimed, released, lost, failed, quarantined or finished by this node',
    labelNames: ['change'],
    registers: this.registers,
  });
  readonly owned = new Gauge({
    name: 'payments_node_shards_owned',
    help: 'Shards this node runs now',
    registers: this.registers,
  });
  readonly threads = new Gauge({
    name: 'payments_node_shard_threads',
    help: 'Shard threads of the node (started with it; its owned shards share them)',
    registers: this.registers,
  });
  readonly tickSeconds = new Histogram({
    name: 'payments_node_tick_seconds',
    help: 'Duration of one control tick',
    buckets: secondsBuckets,
    registers: this.registers,
  });
  readonly renewSeconds = new Histogram({
    name: 'payments_node_lease_renew_seconds',
    help: 'Latency of one lease renewal',
    buckets: secondsBuckets,
    registers: this.registers,
  });
  readonly fenced = new Counter({
    name: 'payments_node_fenced_commits_total',
    help: 'Commits refused by the fence (a stale lease generation)',
    registers: this.registers,
  });
  private readonly reconnects = new Counter({
    name: 'payments_node_reconnects_total',
    help: 'Reconnections and retried connections, by server (postgres, nats)',
    labelNames: ['server'],
    registers: this.registers,
  });
  private readonly deadLetters = new Counter({
    name: 'payments_node_dead_letters_total',
    help: 'Messages kept as dead letters (not a valid batch of their run), by reason',
    labelNames: ['reason'],
    registers: this.registers,
  });
  private readonly unowned = new Gauge({
    name: 'payments_cluster_shard_unowned_seconds',
    help: 'Seconds an unfinished shard of an unfinished run has had no live owner (this node’s view; use max())',
    labelNames: shardLabels,
    registers: this.registers,
  });
  private readonly overdue = new Gauge({
    name: 'payments_cluster_run_overdue',
    help: '1 when an unfinished run is past its submit deadline (this node’s view; use max())',
    labelNames: ['run'],
    registers: this.registers,
  });
  /** Shards whose quarantined state series this node keeps until the quarantine is lifted. */
  private readonly quarantined = new Set<string>();

  constructor(status: { ready(): boolean; tickAgeMs(): number }) {
    collectDefaultMetrics({ register: this.registry });
    // Gauges prom-client names *_total, which `promtool check metrics` refuses (a counter's suffix).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
    // Read when scraped: always current, even while ticks fail.
    new Gauge({
      name: 'payments_node_ready',
      help: '1 when /readyz answers 200, else 0',
      registers: this.registers,
      collect() {
        this.set(status.ready() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'payments_node_last_tick_age_seconds',
      help: 'Seconds since the last successful control tick',
      registers: this.registers,
      collect() {
        this.set(status.tickAgeMs() / 1000);
      },
    });
  }

  rowsApplied(run: string, shard: number, rows: number): void {
    this.rows.inc({ run, shard: String(shard) }, rows);
  }

  batchApplied(run: string, shard: number, ms: number, commitMs: number): void {
    this.applySeconds.observe({ run, shard: String(shard) }, ms / 1000);
    this.commitSeconds.observe({ run, shard: String(shard) }, commitMs / 1000);
  }

  lag(run: string, shard: number, pending: number): void {
    this.pending.set({ run, shard: String(shard) }, pending);
  }

  shardState(run: string, shard: number, status: ShardStatus): void {
    const now = stateOf(status);
    for (const state of states)
      if (state === now) this.state.set({ run, shard: String(shard), state }, 1);
      else this.state.remove({ run, shard: String(shard), state });
    if (now === 'quarantined') this.quarantined.add(`${run}/${shard}`);
    else this.quarantined.delete(`${run}/${shard}`);
  }

  deadLetter(reason: DeadLetterReason): void {
    this.deadLetters.inc({ reason });
  }

  reconnected(server: 'postgres' | 'nats'): void {
    this.reconnects.inc({ server });
  }

  /** The shard left this node: its series go (a quarantined one's state stays until it is lifted). */
  forget(run: string, shard: number): void {
    const labels = { run, shard: String(shard) };
    for (const metric of [this.rows, this.applySeconds, this.commitSeconds, this.pending]) metric.remove(labels);
    for (const state of states)
      if (!(state === 'quarantined' && this.quarantined.has(`${run}/${shard}`)))
        this.state.remove({ ...labels, state });
  }

  /** This node's view of the cluster; quarantined shards it kept a series of and no longer are, forgotten. */
  view(view: ClusterView): void {
    const stillQuarantined = new Set(view.quarantined.map((q) => `${q.run}/${q.shard}`));
    this.unowned.reset();
    for (const u of view.unowned) this.unowned.set({ run: u.run, shard: String(u.shard) }, u.seconds);
    this.overdue.reset();
    for (const r of view.runs) this.overdue.set({ run: r.run }, r.overdue ? 1 : 0);
    for (const key of this.quarantined) {
      if (stillQuarantined.has(key)) continue;
      this.quarantined.delete(key);
      const at = key.lastIndexOf('/');
      this.state.remove({ run: key.slice(0, at), shard: key.slice(at + 1), state: 'quarantined' });
    }
  }
}
