/** A node's Prometheus metrics (served at /metrics): rows and batches applied, lag, shards owned and moved. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ShardMetrics } from './shard-runner.js';

export class NodeMetrics implements ShardMetrics {
  readonly registry = new Registry();
  private readonly rows = new Counter({
    name: 'payments_node_rows_applied_total',
    help: 'Rows applied, by run and shard',
    labelNames: ['run', 'shard'],
    registers: [this.registry],
  });
  private readonly applySeconds = new Histogram({
    name: 'payments_node_batch_apply_seconds',
    help: 'Time to apply and commit one batch',
    labelNames: ['run', 'shard'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly pending = new Gauge({
    name: 'payments_node_shard_lag_messages',
    help: 'Batches stored in the stream after the last one applied, by run and shard',
    labelNames: ['run', 'shard'],
    registers: [this.registry],
  });
  readonly ownership = new Counter({
    name: 'payments_node_ownership_changes_total',
    help: 'Shards claimed, released, lost or finished by this node',
    labelNames: ['change'],
    registers: [this.registry],
  });
  readonly owned = new Gauge({
    name: 'payments_node_shards_owned',
    help: 'Shards this node runs now',
    registers: [this.registry],
  });
  readonly threads = new Gauge({
    name: 'payments_node_shard_threads',
    help: 'Worker threads of the node’s shard pool (each owned shard runs in one)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges prom-client names *_total, which `promtool check metrics` refuses (a counter's suffix).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
  }

  rowsApplied(run: string, shard: number, rows: number): void {
    this.rows.inc({ run, shard: String(shard) }, rows);
  }

  batchApplied(run: string, shard: number, ms: number): void {
    this.applySeconds.observe({ run, shard: String(shard) }, ms / 1000);
  }

  lag(run: string, shard: number, pending: number): void {
    this.pending.set({ run, shard: String(shard) }, pending);
  }
}
