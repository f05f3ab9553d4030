/**
 * Traces (OpenTelemetry), configured only by the standard variables: OTEL_TRACES_EXPORTER,
 * OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (http/protobuf or
 * http/json), OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*. With none of the exporter
 * ones set (or OTEL_SDK_DISABLED=true) the SDK is never loaded: every call here is then one check
 * of `backend`, and the code it wraps runs as it would without it.
 *
 * Spans are made at batch granularity at most (never per row). A span's context crosses threads in
 * task data and processes in NATS headers as a W3C `traceparent` (TraceCarrier), so one run is one
 * trace across submit, the nodes and their worker threads. The SDK and its exporter live in the
 * main thread; a worker thread records its spans without them and posts them to the main thread
 * (span-relay.ts), flushing before it returns its last task.
 */
import { isMainThread } from 'node:worker_threads';
import { usageError } from '../errors.js';

export type SpanAttributes = Record<string, string | number | boolean>;

/** A span's W3C trace context, as headers carry it. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

export interface SpanHandle {
  setAttributes(attributes: SpanAttributes): void;
  /** This span's context, for a child in another thread or process. */
  carrier(): TraceCarrier;
  /** Ends the span; an error marks it failed, with the error's message. */
  end(error?: unknown): void;
}

/** The SDK side (otel.ts), loaded only when tracing is configured. */
export interface TraceBackend {
  startSpan(name: string, attributes: SpanAttributes, parent?: TraceCarrier | SpanHandle): SpanHandle;
  /** Runs `fn` with `span` as the active span (log lines and child spans see it). */
  withActive<T>(span: SpanHandle, fn: () => T): T;
  /** The active span's ids, for log lines; undefined when there is none. */
  activeIds(): { trace_id: string; span_id: string } | undefined;
  activeCarrier(): TraceCarrier | undefined;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let backend: TraceBackend | undefined;
let starting: Promise<TraceBackend | undefined> | undefined;

const exporterVariables = [
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
] as const;

/** Whether the environment asks for traces: an exporter or an OTLP endpoint named, and the SDK not disabled. */
export function tracingWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER !== undefined && env.OTEL_TRACES_EXPORTER.trim().toLowerCase() === 'none') return false;
  return exporterVariables.some((name) => (env[name] ?? '').trim() !== '');
}

/**
 * Loads and starts the SDK when the environment asks for traces (once per thread); a setting it
 * cannot honour (a gRPC protocol, an unknown exporter) is exit 2 naming the variable.
 */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!tracingWanted(env)) return false;
  // The SDK in the main thread only; a worker relays its spans to it (span-relay.ts).
  starting ??= isMainThread
    ? import('./otel.js').then(({ createBackend }) => createBackend(env))
    : import('./span-relay.js').then(({ relayBackend }) => relayBackend());
  backend = await starting;
  return backend !== undefined;
}

export const tracingOn = (): boolean => backend !== undefined;

/**
 * Runs `fn` inside a span named `name` (active for what it calls), ending it when `fn` returns or
 * its promise settles; a throw or rejection marks the span failed. Off: just `fn(undefined)`.
 */
export function traced<T>(
  name: string,
  attributes: SpanAttributes,
  fn: (span: SpanHandle | undefined) => T,
  parent?: TraceCarrier | SpanHandle,
): T {
  if (backend === undefined) return fn(undefined);
  const span = backend.startSpan(name, attributes, parent);
  let result: T;
  try {
    result = backend.withActive(span, () => fn(span));
  } catch (error) {
    span.end(error);
    throw error;
  }
  if (result instanceof Promise)
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        span.end(error);
        throw error;
      },
    ) as T;
  span.end();
  return result;
}

/** A span ended by the caller (one that outlives a call: a shard's publishing). Off: undefined. */
export function startSpan(
  name: string,
  attributes: SpanAttributes,
  parent?: TraceCarrier | SpanHandle,
): SpanHandle | undefined {
  return backend?.startSpan(name, attributes, parent);
}

/** The active span's context, to hand to another thread or process. */
export const activeCarrier = (): TraceCarrier | undefined => backend?.activeCarrier();

/** For log lines (pino's mixin): trace_id and span_id of the active span, when tracing is on. */
export function traceIds(): Record<string, string> {
  return backend?.activeIds() ?? {};
}

/** Sends what is buffered (a worker before it returns its last task). */
export async function flushTracing(): Promise<void> {
  await backend?.flush();
}

/** Flushes and stops the SDK (the process is ending). */
export async function stopTracing(): Promise<void> {
  const ending = backend;
  backend = undefined;
  starting = undefined;
  await ending?.shutdown();
}

/** A variable's value the SDK cannot honour: exit 2, one line. */
export function badTracingSetting(variable: string, value: string, accepted: string) {
  return usageError(`${variable}=${value}: not supported (${accepted})`);
}
