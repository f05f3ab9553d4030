/** Keeping a message that is not a valid batch of its run as a dead letter (never applied). */
import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Claim } from './leases.js';
import { headersOf, type Verdict } from './shard-messages.js';
import type { RunnerControl, ShardMetrics } from './shard-status.js';

export async function keepDeadLetter(
  deps: { readonly control: RunnerControl; readonly metrics: ShardMetrics; readonly log: Logger },
  { run, shard }: Claim,
  m: JsMsg,
  verdict: Extract<Verdict, { kind: 'dead' }>,
): Promise<void> {
  const letter = {
    run,
    shard,
    streamSeq: m.seq,
    batch: verdict.batch,
    reason: verdict.reason,
    detail: verdict.detail,
  };
  const added = await deps.control.deadLetter({ ...letter, headers: headersOf(m.headers) });
  if (!added) return; // kept already (this shard was read before)
  deps.metrics.deadLetter(verdict.reason);
  deps.log.warn(letter, 'not a valid batch of the run: kept as a dead letter, not applied');
}
