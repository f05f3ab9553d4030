/**
 * Spans of a worker thread without the OpenTelemetry SDK in it: loading the SDK and an exporter
 * costs each thread ~150 ms (measured), more than a whole small run. A worker records its spans as
 * plain data (W3C ids, times, attributes) and posts them to the main thread over a
 * BroadcastChannel; the main thread's SDK (otel.ts) exports them with its own. The trace context
 * still arrives in task data and NATS headers, and the worker's log lines name its active span.
 */
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
 * The active span is a plain variable, not AsyncLocalStorage (whose promise hooks slow every
 * promise of the thread): a worker thread runs one task at a time, so what is active while a task
 * runs is that task's span.
 */
class Relay implements TraceBackend {
  private current: RelaySpan | undefined;
  private readonly channel = new BroadcastChannel(spanChannelName);
  private buffer: SpanRecord[] = [];

  constructor() {
    this.channel.unref();
  }

  startSpan(name: string, attributes: SpanAttributes, parent?: TraceCarrier | SpanHandle): SpanHandle {
    const from = parent instanceof RelaySpan ? parent : (parent ?? this.current);
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
    const before = this.current;
    this.current = span as RelaySpan;
    const restore = () => {
      if (this.current === span) this.current = before;
    };
    try {
      const result = fn();
      if (result instanceof Promise) result.then(restore, restore);
      else restore();
      return result;
    } catch (error) {
      restore();
      throw error;
    }
  }

  activeIds() {
    const span = this.current;
    return span === undefined ? undefined : { trace_id: span.traceId, span_id: span.spanId };
  }

  activeCarrier(): TraceCarrier | undefined {
    return this.current?.carrier();
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
