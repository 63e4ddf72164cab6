/**
 * OpenTelemetry tracing for both services: one trace per job from the producer
 * (`kafka-worker enqueue`) through the worker to the MCP server's tool call.
 *
 * - Exporting is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then a TracerProvider sends spans
 *   over OTLP/HTTP (JSON) to `<endpoint>/v1/traces` in batches; `shutdown()` flushes them.
 * - Context PROPAGATION is always on (W3C trace context, AsyncLocalStorage context): a worker
 *   that does not export still hands an incoming `traceparent` on to the server unchanged, and
 *   every log line written inside a traced job carries `trace_id`/`span_id` (pino mixin), so
 *   logs of one job correlate across services whether or not spans are exported.
 * - Carriers: Kafka message headers (`traceparent`, `tracestate`) between producer and worker;
 *   the MCP `tools/call` request's `_meta` (same keys, plus W3C `baggage` carrying the jobID)
 *   between worker and server, so the server's log lines of a job carry its jobID too.
 *
 * Spans: `send <topic>` (PRODUCER, enqueue CLI) → `process <topic>` (CONSUMER, one per job,
 * attributes jobID, jobType, topic, partition, offset, attempt) → `tools/call <tool>` (CLIENT,
 * worker) → `tools/call <tool>` (SERVER, mcp-server).
 */
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { REPLAYED_META_KEY } from '../protocol.ts';
import { VERSION } from '../version.ts';

export const TRACER_NAME = 'mcp-hybrid';

/** True while initTracing has a tracer provider registered (spans are recorded and exported). */
let recording = false;

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans go to `<endpoint>/v1/traces`. */
  endpoint?: string | undefined;
  /** Span processors to use instead of the OTLP exporter (tests: an InMemorySpanExporter). */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  /** True when spans are recorded and exported. */
  readonly exporting: boolean;
  /**
   * Exports what is buffered (waiting at most `timeoutMs`, so an unreachable collector cannot
   * hold up a shutdown) and unregisters everything; idempotent.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Registers propagation (always) and, when an endpoint or span processors are given, a tracer
 * provider. Call once per process, before anything is traced.
 */
export function initTracing(options: TracingOptions): Tracing {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  const processors =
    options.spanProcessors ??
    (options.endpoint
      ? [
          new BatchSpanProcessor({
            // Short timeouts (retries included): a collector that is down must not hold up a shutdown.
            exporter: new OTLPTraceExporter({
              url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces`,
              timeoutMillis: 3_000,
            }),
            exportTimeoutMillis: 3_000,
          }),
        ]
      : []);
  let provider: TracerProvider | undefined;
  if (processors.length > 0) {
    provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': VERSION }),
      spanProcessors: processors,
    });
    trace.setGlobalTracerProvider(provider);
    recording = true;
  }
  let closing: Promise<void> | undefined;
  return {
    exporting: provider !== undefined,
    shutdown(timeoutMs = 5_000) {
      closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        await Promise.race([provider?.shutdown().catch(() => undefined), deadline]);
        clearTimeout(timer);
        recording = false;
        trace.disable();
        propagation.disable();
        context.disable();
      })();
      return closing;
    },
  };
}

function tracer() {
  return trace.getTracer(TRACER_NAME, VERSION);
}

/** Baggage key naming the job a context belongs to (set by the worker, read by the server). */
export const JOB_ID_BAGGAGE_KEY = 'jobID';

/**
 * pino mixin: `trace_id` and `span_id` of the active span, and the job's `jobID` (from baggage)
 * unless the logger or the line already names it.
 */
export function traceLogFields(
  mergeObject: object = {},
  bindsJobID: () => boolean = () => false,
): Record<string, string> {
  const active = context.active();
  const fields: Record<string, string> = {};
  const ctx = trace.getSpan(active)?.spanContext();
  if (ctx && trace.isSpanContextValid(ctx)) {
    fields.trace_id = ctx.traceId;
    fields.span_id = ctx.spanId;
  }
  const jobID = propagation.getBaggage(active)?.getEntry(JOB_ID_BAGGAGE_KEY)?.value;
  if (jobID !== undefined && !('jobID' in mergeObject) && !bindsJobID()) {
    fields.jobID = jobID;
  }
  return fields;
}

function headerValue(headers: IHeaders | undefined, key: string): string | undefined {
  const raw = headers?.[key];
  const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

const kafkaHeaderGetter: TextMapGetter<IHeaders | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => headerValue(carrier, key),
};

const metaGetter: TextMapGetter<Record<string, unknown> | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => {
    const value = carrier?.[key];
    return typeof value === 'string' ? value : undefined;
  },
};

/** The active trace context as carrier fields (`traceparent`, `tracestate`); empty when none. */
export function traceCarrier(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

function recordError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export interface ProducerSpan {
  /** Headers to send with the message: the span's trace context. */
  headers: Record<string, string>;
  end(err?: unknown): void;
}

/** One PRODUCER span per job sent by the enqueue CLI; a new trace unless one is active. */
export function startProducerSpan(topic: string, job: { jobID: string; jobType: string }): ProducerSpan {
  const span = tracer().startSpan(`send ${topic}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.destination.name': topic,
      jobID: job.jobID,
      jobType: job.jobType,
    },
  });
  return {
    headers: traceCarrier(trace.setSpan(context.active(), span)),
    end(err) {
      if (err !== undefined) recordError(span, err);
      span.end();
    },
  };
}

export interface JobSpanOutcome {
  jobID?: string | undefined;
  jobType?: string | undefined;
  attempts: number;
  status: 'succeeded' | 'failed';
  reason?: string | undefined;
}

export interface JobSpan {
  /** Runs `fn` with the job's span active (its logs carry trace_id, its MCP calls propagate it). */
  run<T>(fn: () => T): T;
  end(outcome?: JobSpanOutcome, err?: unknown): void;
}

/**
 * One CONSUMER span per job, continuing the trace of the message's `traceparent` header (the
 * producer's span becomes its parent); a new trace when the message carries none.
 */
export function startJobSpan(
  message: Pick<KafkaMessage, 'headers' | 'offset'>,
  source: { topic: string; partition: number; groupId?: string },
  identity: { jobID?: string; jobType?: string } = {},
): JobSpan {
  let parent = propagation.extract(context.active(), message.headers, kafkaHeaderGetter);
  if (identity.jobID !== undefined) {
    const baggage = propagation.getBaggage(parent) ?? propagation.createBaggage();
    parent = propagation.setBaggage(parent, baggage.setEntry(JOB_ID_BAGGAGE_KEY, { value: identity.jobID }));
  }
  const span = tracer().startSpan(
    `process ${source.topic}`,
    // Attributes only for a span that records them: without a provider this runs for every job.
    !recording
      ? { kind: SpanKind.CONSUMER }
      : {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'process',
            'messaging.destination.name': source.topic,
            'messaging.destination.partition.id': String(source.partition),
            'messaging.kafka.offset': Number(message.offset),
            ...(source.groupId !== undefined && { 'messaging.consumer.group.name': source.groupId }),
            topic: source.topic,
            partition: source.partition,
            offset: Number(message.offset),
            ...(identity.jobID !== undefined && { jobID: identity.jobID }),
            ...(identity.jobType !== undefined && { jobType: identity.jobType }),
          },
        },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(active, fn),
    end(outcome, err) {
      if (outcome) {
        if (outcome.jobID !== undefined) span.setAttribute('jobID', outcome.jobID);
        if (outcome.jobType !== undefined) span.setAttribute('jobType', outcome.jobType);
        span.setAttribute('attempt', outcome.attempts);
        span.setAttribute('outcome', outcome.status);
        if (outcome.status === 'failed') {
          span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason ?? 'failed' });
          if (outcome.reason !== undefined) span.setAttribute('error.type', outcome.reason);
        }
      }
      if (err !== undefined) recordError(span, err);
      span.end();
    },
  };
}

/**
 * One CLIENT span around a tools/call from the worker; `fn` receives the `_meta` trace fields
 * to send, so the server's span becomes a child of this one.
 */
export async function withToolClientSpan<T>(
  tool: string,
  fn: (meta: Record<string, string>) => Promise<T>,
): Promise<T> {
  // Nothing records: a no-op span would carry its parent's context unchanged, so the call sends
  // the active context (the job's) as it is, without a span and a context switch per call.
  if (!recording) return fn(traceCarrier());
  return tracer().startActiveSpan(
    `tools/call ${tool}`,
    { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'mcp', 'rpc.method': 'tools/call', tool } },
    async (span) => {
      try {
        return await fn(traceCarrier());
      } catch (err) {
        recordError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

function carriesTraceContext(meta: Record<string, unknown> | undefined): boolean {
  return meta !== undefined && (meta.traceparent !== undefined || meta.baggage !== undefined);
}

/**
 * One SERVER span per tool call on the server, continuing the trace whose context the request's
 * `_meta` carries. A result with `isError` marks the span as failed.
 */
export async function withToolServerSpan<T extends { isError?: boolean; _meta?: Record<string, unknown> }>(
  tool: string,
  meta: Record<string, unknown> | undefined,
  attributes: Record<string, string | number | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  // Nothing to record and no caller's trace to continue (so no trace fields for the logs):
  // a no-op span would only cost the hot path a context switch.
  if (!recording && !carriesTraceContext(meta)) return fn();
  const parent = propagation.extract(context.active(), meta, metaGetter);
  const clean = Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number
  >;
  return tracer().startActiveSpan(
    `tools/call ${tool}`,
    {
      kind: SpanKind.SERVER,
      attributes: { 'rpc.system': 'mcp', 'rpc.method': 'tools/call', tool, ...clean },
    },
    parent,
    async (span) => {
      try {
        const result = await fn();
        if (result.isError) span.setStatus({ code: SpanStatusCode.ERROR, message: 'tool error result' });
        if (result._meta?.[REPLAYED_META_KEY] === true) span.setAttribute('replayed', true);
        return result;
      } catch (err) {
        recordError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
