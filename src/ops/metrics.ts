/**
 * Prometheus text-format metrics for `--metrics FILE` (prom-client), written once at the end of a
 * run: rows by transaction type, rejections by reason, and each shard's batch apply times.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { rejectionReasons } from '../domain/rejection.js';
import type { RunSummary } from './run-summary.js';

export class RunMetrics {
  readonly registry = new Registry();
  private readonly applySeconds = new Histogram({
    name: 'payments_batch_apply_seconds',
    help: 'Time a shard worker took to apply one batch of rows',
    labelNames: ['shard'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  observeBatch(shard: number, applyMs: number): void {
    this.applySeconds.observe({ shard: String(shard) }, applyMs / 1000);
  }

  /** The metrics in Prometheus text format, with the run's totals added. */
  async text(summary: RunSummary, wallSeconds: number): Promise<string> {
    const rows = new Counter({
      name: 'payments_rows_total',
      help: 'Well-formed rows read, by transaction type',
      labelNames: ['type'],
      registers: [this.registry],
    });
    for (const [type, count] of Object.entries(summary.rowsByType)) rows.inc({ type }, count);
    const rejections = new Counter({
      name: 'payments_rejections_total',
      help: 'Rejected rows, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    for (const reason of rejectionReasons) rejections.inc({ reason }, summary.rejectedByReason[reason]);
    const accepted = new Counter({
      name: 'payments_rows_accepted_total',
      help: 'Rows applied to an account',
      registers: [this.registry],
    });
    accepted.inc(summary.rowsAccepted);
    const gauge = (name: string, help: string, value: number) =>
      new Gauge({ name, help, registers: [this.registry] }).set(value);
    gauge('payments_accounts', 'Accounts in the output', summary.accounts);
    gauge('payments_locked_accounts', 'Locked accounts in the output', summary.lockedAccounts);
    gauge('payments_run_seconds', 'Wall time of the run', wallSeconds);
    return this.registry.metrics();
  }
}
