/**
 * A node's own audit records, on its journal's database: it joined (written before it claims
 * anything; a node that cannot write it does not start), it left, and each shard it took from
 * another node (a lease that expired, was released, or whose owner is gone). A leave or handoff
 * that cannot be written is logged as a warning: the node's work goes on.
 */
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { PgAuditLog } from './pg-log.js';
import { nodeEventRecord, type AuditRecord } from './record.js';
import { stdinArgument } from './redact.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';

export class NodeAuditTrail {
  private readonly sink: PgAuditLog;
  /** One statement at a time on the trail's connection (handoffs can come in a burst). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    journalUrl: string,
    private readonly node: string,
    private readonly log: Pick<Logger, 'warn'>,
  ) {
    this.sink = new PgAuditLog(parsePostgresUrl(journalUrl));
  }

  private append(record: AuditRecord): Promise<void> {
    const done = this.queue.then(() => this.sink.append(record));
    this.queue = done.catch(() => undefined);
    return done;
  }

  joined(args: readonly string[]): Promise<void> {
    return this.append(nodeEventRecord('node-join', this.node, args.map(stdinArgument)));
  }

  async left(): Promise<void> {
    await this.append(nodeEventRecord('node-leave', this.node, []))
      .catch((error: unknown) => this.log.warn({ err: describeError(error) }, 'audit: node-leave not recorded'))
      .finally(() => this.sink.close());
  }

  /** Closes the trail without a record (a node that never joined). */
  close(): Promise<void> {
    return this.sink.close();
  }

  /** A claim: recorded when the shard was another node's (its lease expired, was released, or its owner is gone). */
  async claimed(claim: { run: string; shard: number; previousOwner?: string; early?: boolean }): Promise<void> {
    const previous = claim.previousOwner;
    if (previous === undefined || previous === this.node) return;
    const how = claim.early ? 'owner gone' : 'lease expired or released';
    const args = [`run=${claim.run}`, `shard=${claim.shard}`, `from=${previous}`, how];
    await this.append(nodeEventRecord('shard-handoff', this.node, args)).catch((error: unknown) =>
      this.log.warn({ run: claim.run, shard: claim.shard, err: describeError(error) }, 'audit: handoff not recorded'),
    );
  }
}
