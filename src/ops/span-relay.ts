/**
 * Spans of a worker thread without the OpenTelemetry SDK in it: loading the SDK and an exporter
 * costs each thread ~150 ms (measured), more than a whole small run. A worker records its spans as
 * plain data (W3C ids, times, attributes) and posts them to the main thread over a
 * BroadcastChannel; the main thread's SDK (otel.ts) exports them with its own. The trace context
 * still arrives in task data and NATS headers, and the worker's log lines name its active span.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { relaySpansPerPost } from '../constants.js';
import { describeError } from '../errors.js';
import type { SpanAttributes, SpanHandle, TraceBackend, TraceCarrier } from './tracing.js';

export const spanChannelName = 'payments.spans';

/** A finished span as it crosses to the main thread. Times: milliseconds since the epoch. */
export interface SpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  sampled: boolean;
  startMs: number;
  endMs: number;
  attributes: SpanAttributes;
  error: string | undefined;
}

const nowMs = () => performance.timeOrigin + performance.now();

class RelaySpan implements SpanHandle {
  readonly spanId = randomBytes(8).toString('hex');
  private readonly startMs = nowMs();
  private ended = false;

  constructor(
    private readonly relay: Relay,
    readonly name: string,
    private attributes: SpanAttributes,
    readonly traceId: string,
    private readonly parentSpanId: string | undefined,
    readonly sampled: boolean,
  ) {}

  setAttributes(attributes: SpanAttributes): void {
    this.attributes = { ...this.attributes, ...attributes };
  }

  carrier(): TraceCarrier {
    return { traceparent: `00-${this.traceId}-${this.spanId}-${this.sampled ? '01' : '00'}` };
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.sampled) return;
    this.relay.add({
      name: this.name,
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      sampled: this.sampled,
      startMs: this.startMs,
      endMs: nowMs(),
      attributes: this.attributes,
      error: error === undefined ? undefined : describeError(error),
    });
  }
}

/** traceparent: version-traceid-spanid-flags. */
function parseCarrier(carrier: TraceCarrier): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const m = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/.exec(carrier.traceparent.trim());
  if (m === null) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}

/**
 * The active span follows each task's own async chain (AsyncLocalStorage): a cluster node's shard
 * thread runs several shards at once, and one shard's commit must not land in another's trace. A
 * thread pays for it only while tracing is on (this backend exists only then).
 */
class Relay implements TraceBackend {
  private readonly active = new AsyncLocalStorage<RelaySpan>();
  private readonly channel = new BroadcastChannel(spanChannelName);
  private buffer: SpanRecord[] = [];

  constructor() {
    this.channel.unref();
  }

  startSpan(name: string, attributes: SpanAttributes, parent?: TraceCarrier | SpanHandle): SpanHandle {
    const from = parent instanceof RelaySpan ? parent : (parent ?? this.active.getStore());
    const context =
      from instanceof RelaySpan
        ? { traceId: from.traceId, spanId: from.spanId, sampled: from.sampled }
        : from === undefined
          ? undefined
          : parseCarrier(from as TraceCarrier);
    const traceId = context?.traceId ?? randomBytes(16).toString('hex');
    return new RelaySpan(this, name, attributes, traceId, context?.spanId, context?.sampled ?? true);
  }

  withActive<T>(span: SpanHandle, fn: () => T): T {
    return this.active.run(span as RelaySpan, fn);
  }

  activeIds() {
    const span = this.active.getStore();
    return span === undefined ? undefined : { trace_id: span.traceId, span_id: span.spanId };
  }

  activeCarrier(): TraceCarrier | undefined {
    return this.active.getStore()?.carrier();
  }

  add(record: SpanRecord): void {
    this.buffer.push(record);
    if (this.buffer.length >= relaySpansPerPost) this.post();
  }

  private post(): void {
    if (this.buffer.length === 0) return;
    this.channel.postMessage(this.buffer);
    this.buffer = [];
  }

  async flush(): Promise<void> {
    this.post();
  }

  async shutdown(): Promise<void> {
    this.post();
    this.channel.close();
  }
}

export function relayBackend(): TraceBackend {
  return new Relay();
}
