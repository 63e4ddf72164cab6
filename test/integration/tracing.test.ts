/**
 * One job, one trace: the producer (`kafka-worker enqueue`), the worker's job and its MCP call,
 * and the server's tool call are spans of one trace, each the child of the one before.
 *
 * 1. In one process, with an InMemorySpanExporter: enqueueJobs → KafkaWorker → MCP server.
 * 2. As an operator runs it: the enqueue CLI, a worker process and a server process export over
 *    OTLP/HTTP to a collector stub in this test; the spans link across the three processes, and
 *    every log line of the job in both services carries its jobID and trace_id.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { initTracing, type Tracing } from '../../src/observability/tracing.ts';
import { enqueueJobs, validateJobs } from '../../src/worker/enqueue.ts';
import { createDefaultJobRegistry } from '../../src/worker/handlers/index.ts';
import { spawnEntry } from '../helpers/processes.ts';
import {
  KafkaProbe,
  type Pipeline,
  saveNoteJob,
  spawnServer,
  spawnWorker,
  startPipeline,
  type TopicWatch,
  tempDir,
  uniqueName,
  WORKER_ENTRY,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('tracing in one process (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let probe: KafkaProbe;
  let results: TopicWatch;
  let pipeline: Pipeline;
  const topic = uniqueName('trace');
  const group = uniqueName('trace-group');

  beforeAll(async () => {
    tracing = initTracing({ serviceName: 'test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    pipeline = await startPipeline({ brokers, topic, group, partitions: 2 });
    ({ probe, results } = pipeline);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await tracing?.shutdown();
  });

  it('links producer, worker job, MCP client call and server tool call in one trace', async () => {
    const jobID = uniqueName('traced');
    const { jobs, errors } = validateJobs(
      [saveNoteJob(jobID, uniqueName('traced note'))],
      createDefaultJobRegistry(),
    );
    expect(errors).toEqual([]);
    await enqueueJobs({
      kafka: probe.kafka,
      topics: { topic, dlqTopic: `${topic}.dlq`, resultsTopic: `${topic}.results` },
      partitions: 2,
      replicationFactor: -1,
      jobs,
      logger: silentLogger(),
    });
    await results.waitFor((events) => events.some((e) => e.jobID === jobID && e.status === 'succeeded'));
    await waitUntil(
      () =>
        exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER && s.attributes.jobID === jobID),
      10_000,
      'the job span',
    );

    const spans = exporter.getFinishedSpans();
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER && s.attributes.jobID === jobID)!;
    expect(producer, 'producer span').toBeDefined();
    const traceId = producer.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const byKind = (kind: SpanKind) => inTrace.filter((s) => s.kind === kind);
    expect(byKind(SpanKind.CONSUMER)).toHaveLength(1);
    expect(byKind(SpanKind.CLIENT)).toHaveLength(1);
    expect(byKind(SpanKind.SERVER)).toHaveLength(1);
    const [job, client, tool] = [
      byKind(SpanKind.CONSUMER)[0]!,
      byKind(SpanKind.CLIENT)[0]!,
      byKind(SpanKind.SERVER)[0]!,
    ];
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
    expect(parentOf(producer)).toBeUndefined();
    expect(parentOf(job)).toBe(producer.spanContext().spanId);
    expect(parentOf(client)).toBe(job.spanContext().spanId);
    expect(parentOf(tool)).toBe(client.spanContext().spanId);

    expect(producer.name).toBe(`send ${topic}`);
    expect(job.name).toBe(`process ${topic}`);
    expect(job.attributes).toMatchObject({
      jobID,
      jobType: 'tool-call',
      topic,
      attempt: 1,
      outcome: 'succeeded',
      'messaging.destination.name': topic,
    });
    expect(typeof job.attributes.partition).toBe('number');
    expect(typeof job.attributes.offset).toBe('number');
    expect(client.name).toBe('tools/call save_note');
    expect(tool).toMatchObject({ name: 'tools/call save_note' });
    expect(tool.attributes.tool).toBe('save_note');
  });

  it('marks a dead-lettered job and its failing tool call as errors, in their own trace', async () => {
    const jobID = uniqueName('traced-fail');
    await probe.produceJobs(topic, [
      {
        jobID,
        jobType: 'tool-call',
        payload: { tool: 'read_note', arguments: { title: uniqueName('missing') } },
      },
    ]);
    await results.waitFor((events) => events.some((e) => e.jobID === jobID && e.status === 'failed'));
    await waitUntil(
      () =>
        exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER && s.attributes.jobID === jobID),
      10_000,
      'the job span',
    );
    const job = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.CONSUMER && s.attributes.jobID === jobID)!;
    // No traceparent header: the job starts a trace of its own.
    expect(job.parentSpanContext).toBeUndefined();
    expect(job.status.code).toBe(2);
    expect(job.attributes['error.type']).toBe('tool-error');
    const tool = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === job.spanContext().traceId)!;
    expect(tool.status.code).toBe(2);
  });
});

interface OtlpSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** A stand-in OpenTelemetry collector: accepts OTLP/HTTP JSON on /v1/traces and keeps the spans. */
async function startCollector(): Promise<{ url: string; spans: OtlpSpan[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const toHex = (id: unknown) => {
    const text = String(id ?? '');
    return /^[0-9a-f]*$/i.test(text) ? text.toLowerCase() : Buffer.from(text, 'base64').toString('hex');
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const doc = JSON.parse(body.toString('utf8')) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>;
        }>;
      };
      for (const rs of doc.resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes = Object.fromEntries(
              (s.attributes as Array<{ key: string; value: Record<string, unknown> }>).map((a) => [
                a.key,
                Object.values(a.value)[0],
              ]),
            );
            spans.push({
              service,
              traceId: toHex(s.traceId),
              spanId: toHex(s.spanId),
              parentSpanId: toHex(s.parentSpanId),
              name: String(s.name),
              kind: Number(s.kind),
              attributes,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('tracing across processes (enqueue CLI → worker → server, OTLP/HTTP)', () => {
  it('one job is one connected trace, and its log lines in both services carry jobID and trace_id', async () => {
    const collector = await startCollector();
    const probe = await new KafkaProbe(brokers).connect();
    const topic = uniqueName('trace-x');
    const group = uniqueName('trace-x-group');
    const otel = (service: string) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_SERVICE_NAME: service,
    });
    await probe.createTopics(topic, 2);
    const server = await spawnServer({
      notesDb: join(tempDir(), 'notes.db'),
      env: { ...otel('mcp-server'), LOG_LEVEL: 'debug' },
    });
    const worker = spawnWorker(
      workerEnv({
        brokers,
        topic,
        group,
        serverUrl: server.url,
        extra: { ...otel('kafka-worker'), LOG_LEVEL: 'debug' },
      }),
    );
    try {
      await worker.waitForLog((l) => l.msg === 'joined consumer group', 60_000);
      const jobID = uniqueName('x-traced');
      const file = join(tempDir(), 'job.json');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, JSON.stringify(saveNoteJob(jobID, uniqueName('x note'))));
      const enqueue = spawnEntry(
        WORKER_ENTRY,
        ['enqueue', '--file', file],
        { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic, ...otel('producer') },
        'stderr',
      );
      expect((await enqueue.exited).code).toBe(0);
      await worker.waitForLog((l) => l.msg === 'job succeeded' && l.jobID === jobID, 60_000);
      await worker.stop('SIGTERM');
      await server.stop('SIGTERM');

      const producer = collector.spans.find((s) => s.service === 'producer' && s.attributes.jobID === jobID);
      expect(producer, 'producer span exported by the enqueue CLI').toBeDefined();
      const traceId = producer!.traceId;
      const inTrace = collector.spans.filter((s) => s.traceId === traceId);
      const one = (service: string, kind: number) => {
        const found = inTrace.filter((s) => s.service === service && s.kind === kind);
        expect(found, `${service} kind ${kind}`).toHaveLength(1);
        return found[0]!;
      };
      // OTLP span kinds: 2 server, 3 client, 4 producer, 5 consumer.
      const job = one('kafka-worker', 5);
      const client = one('kafka-worker', 3);
      const tool = one('mcp-server', 2);
      expect(job.parentSpanId).toBe(producer!.spanId);
      expect(client.parentSpanId).toBe(job.spanId);
      expect(tool.parentSpanId).toBe(client.spanId);
      expect(job.attributes).toMatchObject({ jobID, jobType: 'tool-call', topic, attempt: 1 });

      const workerLines = worker.logs.filter((l) => l.jobID === jobID);
      expect(workerLines.length).toBeGreaterThanOrEqual(1);
      for (const line of workerLines) expect(line.trace_id, String(line.msg)).toBe(traceId);
      for (const line of worker.logs.filter((l) => l.trace_id === traceId)) expect(line.jobID).toBe(jobID);
      const serverLines = server.process.logs.filter((l) => l.trace_id === traceId);
      expect(serverLines.length).toBeGreaterThanOrEqual(1);
      for (const line of serverLines) expect(line.jobID, String(line.msg)).toBe(jobID);
    } finally {
      await worker.stop('SIGKILL');
      await server.stop('SIGKILL');
      await probe.close();
      await collector.close();
    }
  });
});
