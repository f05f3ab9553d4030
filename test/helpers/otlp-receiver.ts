/**
 * A real OTLP/HTTP trace receiver for the tracing tests: a node:http server taking POST /v1/traces
 * in http/json (what the tests configure: OTEL_EXPORTER_OTLP_PROTOCOL=http/json), decoding each
 * request into flat spans with their resource's service.name. A request it cannot decode is
 * answered 400 and counted, so a test sees it.
 */
import { createServer, type Server } from 'node:http';

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };

export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  service: string;
  attributes: Record<string, string | number | boolean>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

export interface Receiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly bad: string[];
  /** Resolves once `check` holds of the spans received (polled), or throws after `timeoutMs`. */
  waitFor(check: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

function valueOf(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return JSON.stringify(v);
}

function attributesOf(list: { key: string; value: AnyValue }[] | undefined) {
  return Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));
}

interface ExportRequest {
  resourceSpans: {
    resource?: { attributes?: { key: string; value: AnyValue }[] };
    scopeSpans: {
      spans: {
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        attributes?: { key: string; value: AnyValue }[];
        status?: { code?: number };
      }[];
    }[];
  }[];
}

function decode(body: string): ReceivedSpan[] {
  const request = JSON.parse(body) as ExportRequest;
  return request.resourceSpans.flatMap((rs) => {
    const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s) => ({
        name: s.name,
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        service,
        attributes: attributesOf(s.attributes),
        status: s.status?.code ?? 0,
      })),
    );
  });
}

export async function startReceiver(): Promise<Receiver> {
  const spans: ReceivedSpan[] = [];
  const bad: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
        if (!String(req.headers['content-type']).includes('application/json'))
          throw new Error(`content-type ${req.headers['content-type']}`);
        spans.push(...decode(body));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (error) {
        bad.push(String(error));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    spans,
    bad,
    async waitFor(check, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (!check(spans)) {
        if (Date.now() > until)
          throw new Error(`spans expected did not arrive: ${spans.map((s) => s.name).join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return spans;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The environment that sends a process's traces to `receiver` (batches flushed every 100 ms). */
export function tracingEnv(receiver: Receiver, service = 'payments-test'): NodeJS.ProcessEnv {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: service,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
}

/** Spans as an indented tree (children under their parent), for a failure message or a report. */
export function spanTree(spans: readonly ReceivedSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const lines: string[] = [];
  const walk = (parent: string, depth: number) => {
    for (const s of spans.filter((x) => x.parentSpanId === parent)) {
      const attrs = Object.entries(s.attributes)
        .map(([k, v]) => `${k.replace(/^payments\./, '')}=${v}`)
        .join(' ');
      lines.push(`${'  '.repeat(depth)}${s.name} [${s.service}] ${attrs}`);
      walk(s.spanId, depth + 1);
    }
  };
  for (const root of spans.filter((s) => s.parentSpanId === '' || !ids.has(s.parentSpanId))) {
    lines.push(`${root.name} [${root.service}]${root.parentSpanId ? ' (parent elsewhere)' : ''}`);
    walk(root.spanId, 1);
  }
  return lines.join('\n');
}
