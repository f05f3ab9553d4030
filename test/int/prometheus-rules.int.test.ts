/**
 * deploy/prometheus through promtool (installed by scripts/ci-prometheus.sh): the rules load, every
 * alert has a runbook line and a unit test (payments.rules.test.yaml), the unit tests pass, and the
 * example Prometheus configuration is valid. The metric names are the node's (METRICS contract).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/cli.js';

const dir = join(repoRoot, 'deploy/prometheus');

function promtool(...args: string[]): { code: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool: ${result.error.message} (run scripts/ci-prometheus.sh)`);
  return { code: result.status, output: result.stdout + result.stderr };
}

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}
const rules = (
  parse(readFileSync(join(dir, 'payments.rules.yaml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);

describe('deploy/prometheus', () => {
  it('promtool check rules: the rule file loads', () => {
    const { code, output } = promtool('check', 'rules', 'payments.rules.yaml');
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(code).toBe(0);
  });

  it('promtool test rules: every alert fires on its case and is quiet short of it', () => {
    const { code, output } = promtool('test', 'rules', 'payments.rules.test.yaml');
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it('promtool test rules fails when an alert does not behave as its test says', () => {
    // The unit tests judge the rules: a rule with a changed threshold fails them.
    const changed = readFileSync(join(dir, 'payments.rules.yaml'), 'utf8').replace(
      'payments_cluster_shard_unowned_seconds) > 30',
      'payments_cluster_shard_unowned_seconds) > 60',
    );
    const tmp = mkdtempSync(join(tmpdir(), 'payments-rules-'));
    copyFileSync(join(dir, 'payments.rules.test.yaml'), join(tmp, 'payments.rules.test.yaml'));
    writeFileSync(join(tmp, 'payments.rules.yaml'), changed);
    const result = spawnSync('promtool', ['test', 'rules', 'payments.rules.test.yaml'], { cwd: tmp, encoding: 'utf8' });
    rmSync(tmp, { recursive: true, force: true });
    expect(result.stdout + result.stderr).toContain('PaymentsShardUnowned');
    expect(result.status).not.toBe(0);
  });

  it('every alert has a summary and a runbook line, and a unit test', () => {
    const tests = readFileSync(join(dir, 'payments.rules.test.yaml'), 'utf8');
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const rule of rules) {
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.runbook, rule.alert).toMatch(/docs\/operations\.md#/);
      expect(tests, rule.alert).toContain(`alertname: ${rule.alert}`);
    }
  });

  it('alerts on each condition the operator needs, by the node metrics of the contract', () => {
    const exprOf = (alert: string) => rules.find((r) => r.alert === alert)?.expr ?? '';
    expect(exprOf('PaymentsShardQuarantined')).toContain('payments_node_shard_state{state="quarantined"}');
    expect(exprOf('PaymentsShardFailing')).toContain('payments_node_shard_state{state="failing"}');
    expect(exprOf('PaymentsShardLagGrowing')).toContain('payments_node_shard_lag_messages');
    expect(exprOf('PaymentsShardUnowned')).toContain('payments_cluster_shard_unowned_seconds) > 30');
    expect(exprOf('PaymentsNoReadyNode')).toContain('payments_node_ready');
    expect(exprOf('PaymentsFencedCommits')).toContain('payments_node_fenced_commits_total');
    expect(exprOf('PaymentsReconnects')).toContain('payments_node_reconnects_total');
    expect(exprOf('PaymentsRunOverdue')).toContain('payments_cluster_run_overdue');
  });

  it('promtool check config: the example Prometheus configuration and its rule file', () => {
    const { code, output } = promtool('check', 'config', 'prometheus.yaml');
    expect(output).toContain('is valid prometheus config file');
    expect(code).toBe(0);
  });
});
