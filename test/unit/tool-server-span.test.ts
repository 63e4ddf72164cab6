import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  initTracing,
  startJobSpan,
  type Tracing,
  traceLogFields,
  withToolClientSpan,
  withToolServerSpan,
} from '../../src/observability/tracing.ts';

// Propagation only, as in a server without OTEL_EXPORTER_OTLP_ENDPOINT.
describe('withToolServerSpan without a tracer provider', () => {
  let tracing: Tracing;
  beforeAll(() => {
    tracing = initTracing({ serviceName: 'test' });
  });
  afterAll(async () => {
    await tracing.shutdown();
  });

  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const ok: { isError?: boolean } = { isError: false };

  it("continues the caller's trace from _meta, so the call's log lines carry its trace_id", async () => {
    let fields: Record<string, string> = {};
    await withToolServerSpan(
      'read_note',
      { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      { sessionId: undefined, requestId: '1' },
      async () => {
        fields = traceLogFields();
        return ok;
      },
    );
    expect(fields.trace_id).toBe(traceId);
  });

  it('runs a call without trace context as it is, with no trace fields', async () => {
    let fields: Record<string, string> | undefined;
    const result = await withToolServerSpan('read_note', undefined, { requestId: '2' }, async () => {
      fields = traceLogFields();
      return ok;
    });
    expect(result).toBe(ok);
    expect(fields).toEqual({});
  });

  it("hands the job's trace context and jobID on to the server unchanged (a worker that does not export)", async () => {
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const job = startJobSpan(
      { headers: { traceparent: Buffer.from(traceparent) }, offset: '5' },
      { topic: 'jobs', partition: 0 },
      { jobID: 'job-7' },
    );
    const sent = await job.run(() => withToolClientSpan('save_note', async (meta) => meta));
    job.end({ attempts: 1, status: 'succeeded' });
    expect(sent.traceparent).toBe(traceparent);
    expect(sent.baggage).toBe('jobID=job-7');
    // Outside any job: nothing to send.
    expect(await withToolClientSpan('save_note', async (meta) => meta)).toEqual({});
  });
});
