/**
 * `submit --report FILE` and `--metrics FILE`: what a cluster run read, rejected and printed, and
 * what each step cost, in the single run's report shape (ops/report.ts) with the cluster's own
 * figures (batches, publishing, waiting for lagging shards, each shard's state at the end).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { rejectionReasons } from '../domain/rejection.js';
import type { RunCounts } from './outputs.js';

const submitReportSchemaVersion = 1;

export interface SubmitFigures {
  readonly run: string;
  readonly input: string;
  /** Rows this submit read and sent; undefined when the run was complete already (nothing sent). */
  readonly rowsSent: number | undefined;
  readonly batches: number;
  readonly publishMs: number;
  readonly lagWaitMs: number;
  readonly totalMs: number;
  readonly shards: readonly { readonly shard: number; readonly state: string; readonly node: string | null }[];
}

export interface SubmitReport {
  schemaVersion: typeof submitReportSchemaVersion;
  run: string;
  input: string;
  /** Every data row of the input, read again at the end for the rejected rows. */
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  rejectedByReason: Record<string, number>;
  rowsByType: Record<string, number>;
  accounts: number;
  lockedAccounts: number;
  /** False when the run was complete before this submit: printed from the journal, nothing sent. */
  sent: boolean;
  batches: number;
  publishSeconds: number;
  lagWaitSeconds: number;
  wallSeconds: number;
  txPerSecond: number;
  shards: SubmitFigures['shards'];
  peakRssBytes: number;
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(3));

export function buildSubmitReport(figures: SubmitFigures, counts: RunCounts): SubmitReport {
  // submit reads the input again whenever a report or metrics are asked for (cli/commands/submit.ts).
  const rows = counts.rows!;
  const rejected = Object.values(rows.rejectedByReason).reduce((a, b) => a + b, 0);
  const wall = figures.totalMs / 1000;
  return {
    schemaVersion: submitReportSchemaVersion,
    run: figures.run,
    input: figures.input,
    rowsRead: rows.read,
    rowsAccepted: rows.read - rejected,
    rowsRejected: rejected,
    rejectedByReason: rows.rejectedByReason,
    rowsByType: rows.byType,
    accounts: counts.accounts,
    lockedAccounts: counts.lockedAccounts,
    sent: figures.rowsSent !== undefined,
    batches: figures.batches,
    publishSeconds: seconds(figures.publishMs),
    lagWaitSeconds: seconds(figures.lagWaitMs),
    wallSeconds: seconds(figures.totalMs),
    txPerSecond: wall > 0 && figures.rowsSent !== undefined ? Math.round(rows.read / wall) : 0,
    shards: figures.shards,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/** The report as Prometheus text (the single run's names where they mean the same, payments_submit_* for the rest). */
export async function submitMetricsText(report: SubmitReport): Promise<string> {
  const registry = new Registry();
  registry.setDefaultLabels({ run: report.run });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, value: number, labelNames: string[] = []) => {
    const g = new Gauge({ name, help, labelNames, registers: [registry] });
    if (labelNames.length === 0) g.set(value);
    return g;
  };
  const rows = counter('payments_rows_total', 'Well-formed rows read, by transaction type', ['type']);
  for (const [type, count] of Object.entries(report.rowsByType)) rows.inc({ type }, count);
  const rejections = counter('payments_rejections_total', 'Rejected rows, by reason', ['reason']);
  for (const reason of rejectionReasons) rejections.inc({ reason }, report.rejectedByReason[reason] ?? 0);
  counter('payments_rows_accepted_total', 'Rows applied to an account').inc(report.rowsAccepted);
  gauge('payments_accounts', 'Accounts in the output', report.accounts);
  gauge('payments_locked_accounts', 'Locked accounts in the output', report.lockedAccounts);
  gauge('payments_run_seconds', 'Wall time of the submit, publishing and waiting included', report.wallSeconds);
  gauge(
    'payments_submit_batches',
    'Batches this submit published (0 when the run was complete before)',
    report.batches,
  );
  gauge('payments_submit_publish_seconds', 'Time spent reading and publishing the input', report.publishSeconds);
  gauge(
    'payments_submit_lag_wait_seconds',
    'Time publishing waited for lagging shards (--max-lag)',
    report.lagWaitSeconds,
  );
  const states = gauge('payments_submit_shards', 'Shards of the run at the end, by state', 0, ['state']);
  for (const state of ['finished', 'quarantined', 'running', 'retrying', 'waiting'])
    states.set({ state }, report.shards.filter((s) => s.state === state).length);
  return registry.metrics();
}
