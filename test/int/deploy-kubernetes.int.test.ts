/**
 * deploy/kubernetes, as `kubectl kustomize` builds it (offline), checked against the Kubernetes API
 * schemas (kubernetes-models: types, required fields, enums) and against what the nodes need: probes
 * on the node's endpoints, a grace period that covers the node's graceful stop, non-root with a
 * read-only root filesystem, credentials only as files, configuration naming real CLI options.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { controlStatementTimeoutMs, workerStopWaitMs } from '../../src/constants.js';
import { repoRoot, runCli } from '../helpers/cli.js';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const builds = ['deploy/kubernetes', 'deploy/kubernetes/overlays/production', 'deploy/kubernetes/examples/submit'];

function kustomize(dir: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', dir], { cwd: repoRoot, encoding: 'utf8', stdio: 'pipe' });
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors[0]!.message}`);
    return doc.toJS() as K8sObject;
  });
}

/** The kubernetes-models class of an object: `apps/v1` + `Deployment` → kubernetes-models/apps/v1/Deployment. */
async function validate(object: K8sObject): Promise<void> {
  const path = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  const module = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[object.kind];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

const byKind = (objects: K8sObject[], kind: string): Any[] => objects.filter((o) => o.kind === kind);
const base = kustomize('deploy/kubernetes');
const deployment = byKind(base, 'Deployment')[0];
const podSpec = deployment.spec.template.spec;
const node = podSpec.containers.find((c: Any) => c.name === 'node');

describe('deploy/kubernetes', () => {
  it.each(builds)('%s builds, and every object is valid against the API schema', async (dir) => {
    const objects = kustomize(dir);
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) await validate(object);
  });

  it('the schema check refuses a wrong object (a port that is not a number)', async () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    await expect(validate(broken)).rejects.toThrow(/containerPort must be integer/);
  });

  it('holds the nodes, their config, secrets, metrics Service, PDB and NetworkPolicy', () => {
    const kinds = base.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'ConfigMap',
        'Deployment',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'Secret',
        'Service',
        'ServiceAccount',
      ]),
    );
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(
      byKind(kustomize('deploy/kubernetes/examples/submit'), 'Job')[0].spec.template.spec.containers[0].args[0],
    ).toBe('submit');
  });

  it('probes the node: liveness /healthz, readiness /readyz, on the port PAYMENTS_HTTP sets', () => {
    const config = byKind(base, 'ConfigMap')[0].data;
    const port = node.ports.find((p: Any) => p.name === node.livenessProbe.httpGet.port);
    expect(node.livenessProbe.httpGet.path).toBe('/healthz');
    expect(node.readinessProbe.httpGet.path).toBe('/readyz');
    expect(String(port.containerPort)).toBe(config.PAYMENTS_HTTP);
    const service = byKind(base, 'Service')[0];
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(byKind(base, 'PodDisruptionBudget')[0].spec.selector.matchLabels).toEqual(
      deployment.spec.selector.matchLabels,
    );
  });

  it('gives a stopping node the time its graceful stop may take, preStop included', () => {
    const preStop = node.lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    const stopSeconds = Number(preStop[1]) + (workerStopWaitMs + controlStatementTimeoutMs) / 1000;
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(stopSeconds);
  });

  it('runs non-root, read-only, with requests and a memory limit, in every container', () => {
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    for (const c of [...podSpec.initContainers, ...podSpec.containers]) {
      expect(c.securityContext, c.name).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.resources.requests.cpu, c.name).toBeDefined();
      expect(c.resources.limits.memory, c.name).toBeDefined();
    }
  });

  it('takes credentials only from Secret files: no literal in the config or the environment', () => {
    const config = byKind(base, 'ConfigMap')[0].data as Record<string, string>;
    const journal = new URL(config.PAYMENTS_JOURNAL!);
    expect(journal.password).toBe('');
    expect(Object.keys(config).filter((k) => /PASS(WORD)?$|SECRET|TOKEN/.test(k))).toEqual([]);
    for (const c of [...podSpec.initContainers, ...podSpec.containers])
      for (const e of c.env ?? [])
        expect(e.valueFrom ?? { literal: e.name }, `${c.name} ${e.name}`).not.toHaveProperty('secretKeyRef');
    const secretVolumes = podSpec.volumes.filter((v: Any) => v.secret).map((v: Any) => v.secret.secretName);
    expect(secretVolumes.sort()).toEqual(['payments-nats', 'payments-postgres']);
    // The files the config points at are where the Secrets are mounted.
    const mounted = (path: string) =>
      [...podSpec.initContainers, ...podSpec.containers].some((c: Any) =>
        c.volumeMounts.some((m: Any) => path.startsWith(`${m.mountPath}/`)),
      );
    expect(mounted(config.PAYMENTS_NATS_CREDS!)).toBe(true);
    expect(mounted(config.PGPASSFILE!)).toBe(true);
  });

  it("configures only options the node and submit have (each PAYMENTS_* variable is one's option)", async () => {
    const config = byKind(base, 'ConfigMap')[0].data as Record<string, string>;
    const help = (await runCli(['node', '--help'])).stdout + (await runCli(['submit', '--help'])).stdout;
    const options = Object.keys(config)
      .filter((k) => k.startsWith('PAYMENTS_'))
      .map((k) => `--${k.slice('PAYMENTS_'.length).toLowerCase().replace(/_/g, '-')}`);
    expect(options.length).toBeGreaterThan(3);
    // Whole option names: --lease must not pass for --lease-ms.
    for (const option of [...options, '--node-id', '--threads'])
      expect(help, option).toMatch(new RegExp(`${option}(?![\\w-])`));
  });

  it('gives a node one shard thread a requested core (a container sees the host cores)', () => {
    const node = podSpec.containers.find((c: Any) => c.name === 'node');
    const threads = node.env.find((e: Any) => e.name === 'PAYMENTS_THREADS');
    expect(threads.valueFrom.resourceFieldRef).toEqual({
      containerName: 'node',
      resource: 'requests.cpu',
      divisor: '1',
    });
  });

  it('lets the nodes reach only DNS, NATS, PostgreSQL and OTLP; only Prometheus reaches them', () => {
    const policy = byKind(base, 'NetworkPolicy')[0].spec;
    expect(policy.podSelector.matchLabels['app.kubernetes.io/name']).toBe('payments');
    const egressPorts = policy.egress
      .flatMap((r: Any) => r.ports.map((p: Any) => p.port))
      .sort((a: number, b: number) => a - b);
    expect(egressPorts).toEqual([53, 53, 4222, 4318, 5432]);
    expect(policy.ingress.flatMap((r: Any) => r.ports.map((p: Any) => p.port))).toEqual([9464]);
  });
});
