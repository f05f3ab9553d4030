/**
 * The OpenTelemetry SDK behind tracing.ts, loaded (dynamically) only when the environment asks for
 * traces. One tracer provider per thread, with a batch span processor (OTEL_BSP_* variables) and an
 * OTLP/HTTP exporter (protobuf, the standard's default, or JSON); the sampler from
 * OTEL_TRACES_SAMPLER; service.name from OTEL_SERVICE_NAME (default `payments`). Context lives in
 * AsyncLocalStorage, and crosses threads and processes as W3C trace context. Worker threads' spans
 * arrive as records (span-relay.ts) and go out through the same processor.
 */
import { createRequire } from 'node:module';
import { BroadcastChannel } from 'node:worker_threads';
import { context, propagation, trace, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
  type Resource,
} from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { spanChannelName, type SpanRecord } from './span-relay.js';
import { describeError } from '../errors.js';
import {
  badTracingSetting,
  type SpanAttributes,
  type SpanHandle,
  type TraceBackend,
  type TraceCarrier,
} from './tracing.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The exporter the variables name: OTLP over HTTP, protobuf or JSON (gRPC is not bundled). */
async function exporterFrom(env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  if (exporters.some((e) => e !== 'otlp'))
    throw badTracingSetting('OTEL_TRACES_EXPORTER', env.OTEL_TRACES_EXPORTER ?? '', 'otlp or none');
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[variable] ?? 'http/protobuf').trim();
  if (protocol === 'http/json')
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol === 'http/protobuf')
    return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
  throw badTracingSetting(variable, protocol, 'http/protobuf or http/json');
}

class Handle implements SpanHandle {
  constructor(readonly span: Span) {}

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(attributes);
  }

  carrier(): TraceCarrier {
    const carrier = {} as TraceCarrier;
    propagation.inject(trace.setSpan(context.active(), this.span), carrier);
    return carrier;
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      this.span.setStatus({ code: 2, message: describeError(error) }); // SpanStatusCode.ERROR
    }
    this.span.end();
  }
}

function parentContext(parent: TraceCarrier | SpanHandle | undefined): Context {
  if (parent === undefined) return context.active();
  if (parent instanceof Handle) return trace.setSpan(context.active(), parent.span);
  return propagation.extract(context.active(), parent);
}

const hrTime = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/** A worker's finished span as the SDK's exporters read one. */
function readableSpan(r: SpanRecord, resource: Resource): ReadableSpan {
  const flags = r.sampled ? 1 : 0;
  return {
    name: r.name,
    kind: 0, // SpanKind.INTERNAL
    spanContext: () => ({ traceId: r.traceId, spanId: r.spanId, traceFlags: flags }),
    parentSpanContext:
      r.parentSpanId === undefined ? undefined : { traceId: r.traceId, spanId: r.parentSpanId, traceFlags: flags },
    startTime: hrTime(r.startMs),
    endTime: hrTime(r.endMs),
    status: r.error === undefined ? { code: 0 } : { code: 2, message: r.error },
    attributes: r.attributes,
    links: [],
    events: [],
    duration: hrTime(r.endMs - r.startMs),
    ended: true,
    resource,
    instrumentationScope: { name: 'payments', version },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

export async function createBackend(env: NodeJS.ProcessEnv): Promise<TraceBackend> {
  const exporter = await exporterFrom(env);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'payments', 'service.version': version }))
    .merge(detectResources({ detectors: [envDetector] }));
  const processor = new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  const workers = new BroadcastChannel(spanChannelName);
  workers.unref();
  workers.onmessage = (event) => {
    for (const record of (event as { data: SpanRecord[] }).data) processor.onEnd(readableSpan(record, resource));
  };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer('payments', version);
  return {
    startSpan: (name, attributes, parent) => new Handle(tracer.startSpan(name, { attributes }, parentContext(parent))),
    withActive: (span, fn) => context.with(trace.setSpan(context.active(), (span as Handle).span), fn),
    activeIds: () => {
      const ids = trace.getActiveSpan()?.spanContext();
      return ids === undefined ? undefined : { trace_id: ids.traceId, span_id: ids.spanId };
    },
    activeCarrier: () => {
      const carrier = {} as TraceCarrier;
      propagation.inject(context.active(), carrier);
      return carrier.traceparent === undefined ? undefined : carrier;
    },
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await new Promise((resolve) => setImmediate(resolve)); // spans the workers posted last
      workers.close();
      await provider.shutdown();
    },
  };
}
