/**
 * `payments node`: a long-running member of the cluster. Every tick (a third of the lease) it
 *   - heartbeats (its row in payments_cluster.nodes: how many nodes share the work),
 *   - renews the leases of the shards it runs; a lease it no longer holds (another node took it
 *     after this one was paused past its lease) stops that shard at once,
 *   - drops shards whose runner ended (finished, or failed: the lease is released, and a claim,
 *     here or elsewhere, recovers it from the journal),
 *   - gives a shard back or claims unowned ones, as the placement rules say (placement.ts).
 * Each owned shard runs in a worker thread of the node's Piscina pool (one long-running task per shard:
 * the same engine and journal partition as a single-process run's worker); this thread keeps the
 * control plane, each shard's NATS subscription, HTTP and metrics, so a tick never waits behind engine
 * work. Control-plane statements run one at a time on the node's connection (the tick's and the
 * runners' alike). HTTP: /healthz, /readyz (NATS and PostgreSQL connected, every shard recovered), /metrics.
 */
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Piscina } from 'piscina';
import type { Logger } from 'pino';
import {
  healthTickAgeLeases,
  healthTickAgeMinMs,
  heartbeatSlackMs,
  runnerReadyWaitMs,
  shardThreadsMax,
  tickMsMax,
  tickMsMin,
} from '../constants.js';
import { describeError } from '../errors.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';
import type { LogConfig } from '../ops/logger.js';
import { NodeAuditTrail } from '../audit/node-trail.js';
import { NodeBreakers } from './node-breakers.js';
import { fairShare, givesOneBack, mayClaim } from './placement.js';
import { shardThreadPool } from './shard-threads.js';
import { ClusterControl } from './control.js';
import { defaultNodeId } from './names.js';
import { connectNats, type NatsSettings } from './nats.js';
import { serveNodeHttp, shardStatuses, type HttpSettings, type NodeStatus } from './node-http.js';
import { NodeMetrics } from './node-metrics.js';
import { NodeUpkeep } from './node-upkeep.js';
import { handOverAll, TickTimer } from './node-handoff.js';
import { ShardRunner } from './shard-runner.js';
import type { RunnerControl } from './shard-status.js';

export interface NodeOptions {
  readonly nats: Omit<NatsSettings, 'name'>;
  readonly journalUrl: string;
  readonly http?: HttpSettings;
  readonly leaseMs: number;
  /** Shard threads: started with the node, shared by the shards it runs (shard-threads.ts). */
  readonly threads: number;
  /** Finished or abandoned runs, and dead nodes, are deleted after this long (expiry.ts). */
  readonly expireMs: number;
  readonly id?: string;
  readonly log: Logger;
  /** How the shard worker threads log (the same level and format as `log`). */
  readonly logConfig?: LogConfig;
  readonly signal: AbortSignal;
  readonly commandLine?: readonly string[];
  readonly keys?: import('../journal/seal.js').JournalKeyring; // sealed runs' keys (message-seal.ts)
}

export class ClusterNode {
  readonly id: string;
  private readonly control: ClusterControl;
  private readonly metrics: NodeMetrics;
  private readonly upkeep: NodeUpkeep;
  /** When the last control tick succeeded (the node's start before the first). */
  private lastTickOkMs = performance.now();
  private readonly runners = new Map<string, ShardRunner>();
  /** Runners being stopped (lease lost, shard given back) until they let go; a new claim of the shard waits. */
  private readonly lettingGo = new Map<string, Promise<void>>();
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private server: Server | undefined;
  private pgOk = false;
  private ticking = false;
  /** Every control-plane statement, in order: one connection runs one at a time. */
  private controlQueue: Promise<unknown> = Promise.resolve();
  private readonly runnerControl: RunnerControl;
  private readonly fencedCounted = new WeakSet<ShardRunner>(); // runners counted in the fenced metric
  /** The shard worker threads; started once the node has joined. */
  private pool: Piscina | undefined;
  private readonly audit: NodeAuditTrail;
  private readonly breakers: NodeBreakers;
  /** Runners handing their shard to another node, and their releases, until done. */
  private readonly handingOver = new Set<ShardRunner>();
  private readonly releasing = new Set<Promise<void>>();
  private readonly tickTimer = new TickTimer();

  constructor(private readonly options: NodeOptions) {
    this.id = options.id ?? defaultNodeId(hostname(), process.pid, randomBytes(3).toString('hex'));
    this.log = options.log.child({ node: this.id });
    const target = parsePostgresUrl(options.journalUrl);
    this.audit = new NodeAuditTrail(options.journalUrl, this.id, this.log);
    this.metrics = new NodeMetrics({ ready: () => this.ready, tickAgeMs: () => this.tickAgeMs });
    const onRetry = (attempt: number, delayMs: number, error: unknown) => {
      this.metrics.reconnected('postgres');
      this.log.warn({ attempt, delayMs: Math.round(delayMs) }, `control: retrying (${describeError(error)})`);
    };
    // A lease released anywhere: the next tick (and its claims) now, not up to a tick later.
    this.control = new ClusterControl(target, `payments node ${this.id}`, onRetry, () => this.tickTimer.wake());
    this.breakers = new NodeBreakers(options.leaseMs, this.metrics.registry, this.log, () =>
      this.metrics.reconnected('nats'),
    );
    const serial = <T>(call: () => Promise<T>) => this.serial(call);
    this.upkeep = new NodeUpkeep(this.control, serial, this.metrics, this.log, options.expireMs);
    this.runnerControl = {
      finish: (run, shard, generation, seq) => serial(() => this.control.finish(run, shard, generation, seq)),
      quarantine: (lease, cause) => serial(() => this.control.quarantine(lease, cause)),
      deadLetter: (letter) => serial(() => this.control.addDeadLetter(this.id, letter)),
    };
  }

  /**
   * Runs a control-plane call after the ones before it: node-postgres queues concurrent queries on
   * one client (deprecated), and interleaved calls would also share a retry and its reconnection.
   */
  private serial<T>(call: () => Promise<T>): Promise<T> {
    const result = this.controlQueue.then(call);
    this.controlQueue = result.catch(() => undefined);
    return result;
  }

  readonly log: Logger; // every line names this node (and the shard, where there is one)

  /** Runs until the signal aborts; then gives every shard back. */
  async run(): Promise<void> {
    const { options } = this;
    if (options.http !== undefined)
      this.server = await serveNodeHttp(options.http, {
        status: () => this.status(),
        health: () => ({ ok: this.healthy, tickAgeMs: this.tickAgeMs }),
        registry: this.metrics.registry,
      });
    try {
      await this.control.setup();
      await this.audit.joined(options.commandLine ?? []);
      this.pgOk = true;
      this.nc = await connectNats({ ...options.nats, name: `payments node ${this.id}` });
    } catch (error) {
      // A node that cannot start closes what it opened, so the process ends with its error.
      const audit = this.pgOk ? this.audit.left() : this.audit.close();
      await Promise.all([audit, this.control.close(), new Promise((r) => this.server?.close(r) ?? r(0))]);
      throw error;
    }
    this.js = jetstream(this.nc);
    this.breakers.watchNats(this.nc);
    this.pool = shardThreadPool(options.threads);
    const address = this.server?.address();
    const http = address !== null && typeof address === 'object' ? address?.port : undefined;
    this.log.info({ leaseMs: options.leaseMs, http }, 'node joined');
    const tickMs = Math.max(tickMsMin, Math.min(tickMsMax, Math.floor(options.leaseMs / 3)));
    // On the signal every shard stops reading at once, not after the tick in progress and the
    // leaving below: the batch being applied is the only one a handoff waits for.
    const halt = () => {
      for (const runner of this.runners.values()) runner.halt(true);
    };
    options.signal.addEventListener('abort', halt, { once: true });
    while (!options.signal.aborted) {
      try {
        const started = performance.now();
        await this.breakers.natsTick();
        // Through the PostgreSQL breaker: while it is open the tick is not tried (no claims, not ready).
        if (await this.breakers.tick(() => this.tick())) {
          this.pgOk = true;
          this.lastTickOkMs = performance.now();
          this.metrics.tickSeconds.observe((this.lastTickOkMs - started) / 1000);
        }
      } catch (error) {
        this.pgOk = false;
        this.log.error({ err: describeError(error) }, 'tick failed; retrying');
      }
      await this.tickTimer.sleep(tickMs, options.signal);
    }
    await this.shutdown();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const { leaseMs } = this.options;
      // A node is live while its heartbeat is younger than two ticks: a dead one drops out no later than its leases expire.
      const { liveNodes, openRunShards, othersMinOwned, mine } = await this.serial(() =>
        this.control.heartbeat(this.id, (2 * leaseMs) / 3 + heartbeatSlackMs),
      );
      await this.reapRunners();
      await this.renewLeases(leaseMs);
      if (!this.breakers.open) await this.balance(leaseMs, fairShare(openRunShards, liveNodes), mine, othersMinOwned);
      this.metrics.owned.set(this.runners.size);
      this.metrics.threads.set(this.pool?.threads.length ?? 0);
      await this.upkeep.due();
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Runners that ended: finished, quarantined (recorded by the runner), or failed: given back with a
   * backoff before the next claim, and quarantined after too many failures in a row.
   */
  private async reapRunners(): Promise<void> {
    for (const [key, runner] of this.runners) {
      const waiting = ['waiting', 'recovering'].includes(runner.status.kind);
      if (waiting && performance.now() - runner.startedMs > runnerReadyWaitMs) {
        runner.fail(new Error(`not recovered within ${runnerReadyWaitMs / 1000} s`));
        // Registered as letting go: a claim of the same shard here starts once this one has let go
        // (its task, if still recovering, ends moments later: its session is ended, and fenced).
        void this.letGo(key, runner);
      }
      const status = runner.status;
      if (status.kind !== 'finished' && status.kind !== 'failed' && status.kind !== 'quarantined') continue;
      this.runners.delete(key);
      const { run, shard } = runner.claim;
      this.metrics.forget(run, shard);
      this.metrics.ownership.inc({ change: status.kind });
      if (status.kind !== 'failed') continue;
      const cause = describeError(status.error);
      this.countFenced(runner);
      const outcome = await this.serial(() => this.control.releaseFailed(runner.lease, runner.recoveredLine, cause));
      // The lease had moved on (a newer generation holds the shard): a lost lease, not a failure.
      if (outcome === undefined) {
        this.log.info({ run, shard, err: cause }, 'lease lost: the shard has a newer owner; nothing released');
        continue;
      }
      if (outcome.quarantined) this.metrics.shardState(run, shard, { kind: 'quarantined', cause });
      this.log.error(
        { run, shard, err: cause, failures: outcome.failures },
        outcome.quarantined
          ? 'shard failed too many times in a row; quarantined'
          : 'shard failed; released (retried after a backoff)',
      );
    }
  }

  /** Counts, once, a runner whose commit the fence refused: failed, or stopped as its lease was lost. */
  private countFenced(runner: ShardRunner): void {
    const failure = runner.status.kind === 'failed' ? runner.status.error : runner.workerFailure;
    const cause = failure === undefined ? '' : describeError(failure);
    if (this.fencedCounted.has(runner) || !/\bfenced\b/.test(cause)) return;
    this.fencedCounted.add(runner);
    this.metrics.fenced.inc();
    this.log.warn({ run: runner.claim.run, shard: runner.claim.shard, err: cause }, 'commit refused by the fence');
  }

  /** Stops a runner no longer in the map; a new claim of its shard here starts once it has let go. */
  private letGo(key: string, runner: ShardRunner, handoff = false): Promise<void> {
    const done = runner.stop(handoff).finally(() => {
      this.countFenced(runner);
      if (this.lettingGo.get(key) === done) this.lettingGo.delete(key);
    });
    this.lettingGo.set(key, done);
    return done;
  }

  private release(runner: ShardRunner): Promise<void> {
    const { run, shard, generation } = runner.claim;
    this.metrics.forget(run, shard);
    return this.serial(() => this.control.release(run, shard, generation, runner.streamSeq));
  }

  /** Renews every lease held; a shard whose lease moved on is stopped at once. */
  private async renewLeases(leaseMs: number): Promise<void> {
    const held = [...this.runners.values(), ...this.handingOver].map((r) => r.lease);
    const kept = await this.serial(async () => {
      const started = performance.now();
      const renewed = await this.control.renew(this.id, leaseMs, held);
      if (held.length > 0) this.metrics.renewSeconds.observe((performance.now() - started) / 1000);
      return renewed;
    });
    for (const [key, runner] of this.runners) {
      if (kept.has(key) || runner.status.kind === 'finished') continue;
      this.runners.delete(key);
      this.metrics.forget(runner.claim.run, runner.claim.shard);
      this.metrics.ownership.inc({ change: 'lost' });
      this.log.warn(
        { run: runner.claim.run, shard: runner.claim.shard },
        'lease lost (another node owns the shard now); stopping it',
      );
      void this.letGo(key, runner);
    }
  }

  /** Gives one shard back and claims unowned ones as the placement rules say (placement.ts). */
  private async balance(leaseMs: number, fair: number, mine: number, othersMinOwned: number | undefined) {
    let load = mine;
    const now = () => ({ load, running: this.runners.size, othersMinOwned });
    if (givesOneBack(now(), fair)) {
      const [key, runner] = [...this.runners].pop()!;
      this.runners.delete(key);
      // Stopped and released in the background: the tick must go on renewing the other leases (a
      // stop waits for the batch being applied, or a recovery, up to workerStopWaitMs).
      this.handingOver.add(runner); // its lease is renewed until released (the snapshot may outlast it)
      const released = this.letGo(key, runner, true)
        .then(() => this.release(runner))
        .finally(() => this.handingOver.delete(runner))
        .then(
          () =>
            this.log.info({ run: runner.claim.run, shard: runner.claim.shard, fair }, 'shard released (rebalancing)'),
          (error: unknown) =>
            this.log.warn(
              { run: runner.claim.run, shard: runner.claim.shard, err: describeError(error) },
              'release failed; the lease runs out instead',
            ),
        );
      this.releasing.add(released);
      void released.finally(() => this.releasing.delete(released));
      this.metrics.ownership.inc({ change: 'released' });
      load--;
    }
    while (mayClaim(now(), fair, shardThreadsMax) && !this.options.signal.aborted) {
      const claim = await this.serial(() => this.control.claim(this.id, leaseMs));
      if (claim === undefined) break;
      // This node's own lease ran out before it was renewed (a starved machine) and the claim took
      // the shard again: the old runner's generation is stale. It is stopped, and the new one
      // starts once it has let go (an old task still ending has had its session ended, and is fenced).
      const stale = this.runners.get(`${claim.run}/${claim.shard}`);
      if (stale !== undefined) {
        this.metrics.ownership.inc({ change: 'lost' });
        this.log.warn(
          { run: claim.run, shard: claim.shard, generation: claim.generation },
          'lease lost (expired before it was renewed; claimed again); restarting the shard',
        );
        this.metrics.forget(claim.run, claim.shard);
        void this.letGo(stale.key, stale);
        load--;
      }
      void this.audit.claimed(claim);
      const runner = new ShardRunner(claim, {
        after: this.lettingGo.get(`${claim.run}/${claim.shard}`),
        journalUrl: this.options.journalUrl,
        js: this.js!,
        pool: this.pool!,
        control: this.runnerControl,
        log: this.log,
        logConfig: this.options.logConfig ?? { level: this.log.level as LogConfig['level'], pretty: false },
        nodeId: this.id,
        metrics: this.metrics,
        keys: this.options.keys ?? [],
      });
      this.runners.set(runner.key, runner);
      this.metrics.ownership.inc({ change: 'claimed' });
      load++;
    }
  }

  get ready(): boolean {
    const shardsReady = [...this.runners.values()].every((r) => r.ready || r.status.kind === 'finished');
    return this.natsOk && this.pgOk && !this.breakers.open && shardsReady;
  }

  private get natsOk(): boolean {
    return this.nc !== undefined && !this.nc.isClosed();
  }

  /** Since the last successful control tick (since the start, before the first). */
  private get tickAgeMs(): number {
    return performance.now() - this.lastTickOkMs;
  }

  /** Alive: a control tick succeeded lately (a node whose ticks all fail has lost its leases by then). */
  private get healthy(): boolean {
    return this.tickAgeMs < Math.max(healthTickAgeMinMs, healthTickAgeLeases * this.options.leaseMs);
  }

  /** What /readyz shows. */
  private status(): NodeStatus {
    const shards = shardStatuses(this.runners.values());
    return { ready: this.ready, node: this.id, nats: this.natsOk, postgres: this.pgOk, shards };
  }

  /** Gives every shard back (so others claim them at once), leaves, closes the connections. */
  private async shutdown(): Promise<void> {
    // Out of the live nodes first: the others' fair share counts without this node, so they may
    // claim each shard as soon as it is released (its leases, renewed below, keep it its own till then).
    await this.serial(() => this.control.leaveCluster(this.id)).catch(() => undefined);
    await handOverAll({
      runners: this.runners,
      renew: () => this.renewLeases(this.options.leaseMs),
      release: (runner) => this.release(runner),
      pending: () => [...this.releasing, ...this.lettingGo.values()],
      log: this.log,
    });
    this.runners.clear();
    await this.pool?.destroy().catch(() => undefined);
    await this.audit.left();
    await this.serial(() => this.control.close());
    await this.nc?.close().catch(() => undefined);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.log.info('node left');
  }
}
