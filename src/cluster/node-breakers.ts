/**
 * A node's circuit breakers, one per server (cockatiel, src/resilience.ts). PostgreSQL's counts the
 * node's control ticks; NATS's counts the ticks spent disconnected (the client reconnects by itself). After failures in a row a breaker opens: the node
 * then reports not ready and claims nothing, and the PostgreSQL breaker lets one tick through per
 * pause (half-open) instead of hammering a server that is down. Each breaker's state is a metric.
 */
import { BrokenCircuitError, CircuitState, type CircuitBreakerPolicy } from 'cockatiel';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { breakerFailuresInARow, breakerHalfOpenAfterMinMs } from '../constants.js';
import { breakerPolicy } from '../resilience.js';

export type Server = 'postgres' | 'nats';

export class NodeBreakers {
  readonly postgres: CircuitBreakerPolicy;
  readonly nats: CircuitBreakerPolicy;

  constructor(leaseMs: number, registry: Registry, log: Logger, onNatsReconnect: () => void) {
    const settings = { failures: breakerFailuresInARow, halfOpenAfterMs: Math.max(breakerHalfOpenAfterMinMs, leaseMs) };
    const gauge = new Gauge({
      name: 'payments_node_circuit_open',
      help: 'A circuit breaker of this node, by server: 1 while open or half-open (the node is not ready and claims nothing), 0 closed',
      labelNames: ['server'],
      registers: [registry],
    });
    const make = (server: Server) => {
      const breaker = breakerPolicy(settings);
      gauge.set({ server }, 0);
      breaker.onStateChange((state) => {
        gauge.set({ server }, state === CircuitState.Closed ? 0 : 1);
        if (state === CircuitState.Open)
          log.warn(
            { server },
            `${server}: circuit open after ${settings.failures} failures in a row; not ready, claiming nothing`,
          );
        if (state === CircuitState.Closed) log.info({ server }, `${server}: circuit closed`);
      });
      return breaker;
    };
    this.postgres = make('postgres');
    this.nats = make('nats');
    this.onNatsReconnect = onNatsReconnect;
  }

  private readonly onNatsReconnect: () => void;

  /** Either breaker is not closed: the node is not ready and claims nothing. */
  get open(): boolean {
    return this.postgres.state !== CircuitState.Closed || this.nats.state !== CircuitState.Closed;
  }

  /** Runs a control tick through the PostgreSQL breaker; false when the breaker refused it (open). */
  async tick(run: () => Promise<void>): Promise<boolean> {
    try {
      await this.postgres.execute(run);
      return true;
    } catch (error) {
      if (error instanceof BrokenCircuitError) return false;
      throw error;
    }
  }

  /** Watches the connection's status until it closes: down from a disconnection to a reconnection. */
  watchNats(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.natsDown = true;
        if (status.type === 'reconnect') {
          this.natsDown = false;
          this.onNatsReconnect();
        }
      }
    })().catch(() => undefined);
  }

  /** Once a tick: a tick spent disconnected from NATS is a failure of its breaker, a connected one a success. */
  async natsTick(): Promise<void> {
    await this.nats
      .execute(() => {
        if (this.natsDown) throw new Error('nats disconnected');
      })
      .catch(() => undefined);
  }

  private natsDown = false;
}
