import type { KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { McpToolCaller, ToolCallResult } from '../../src/mcp-client/client.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  ToolError,
  TransientError,
} from '../../src/retry/errors.ts';
import { createDefaultJobRegistry } from '../../src/worker/handlers/index.ts';
import { createWorkerMetrics } from '../../src/worker/metrics.ts';
import { JobProcessor } from '../../src/worker/process-job.ts';

/** A caller that answers each call with the next scripted step (an error to throw, or success). */
function scriptedCaller(steps: Array<Error | 'ok'>) {
  const calls: Array<{ name: string; key: string | undefined }> = [];
  const caller: McpToolCaller = {
    async callTool(name, _args, options) {
      calls.push({ name, key: options?.idempotencyKey });
      const step = steps.shift() ?? 'ok';
      if (step !== 'ok') throw step;
      return { content: [], text: 'done', replayed: false } satisfies ToolCallResult;
    },
    async callServerInitialize(server, options) {
      calls.push({ name: `server_initialize:${server.name}`, key: options?.idempotencyKey });
      const step = steps.shift() ?? 'ok';
      if (step !== 'ok') throw step;
      return { name: server.name, status: 'ready', tools: [{ name: 't' }], durationMs: 1, replayed: false };
    },
  };
  return { caller, calls };
}

function processor(caller: McpToolCaller, maxAttempts = 3) {
  const metrics = createWorkerMetrics(new Registry(), { defaultMetrics: false });
  return {
    metrics,
    processor: new JobProcessor({
      registry: createDefaultJobRegistry(),
      client: caller,
      logger: silentLogger(),
      metrics,
      maxAttempts,
      backoff: { initialMs: 1, maxMs: 2 },
      maxMessageBytes: 1024 * 1024,
    }),
  };
}

function message(value: unknown): KafkaMessage {
  return {
    key: null,
    value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    timestamp: '0',
    attributes: 0,
    offset: '7',
    headers: {},
  };
}

const signals = () => ({ call: new AbortController().signal, wait: new AbortController().signal });
const source = { topic: 'jobs', partition: 0 };
const toolJob = {
  jobID: 'job-1',
  jobType: 'tool-call',
  payload: { tool: 'save_note', arguments: { title: 't' } },
};

describe('retry policy', () => {
  it('runs the job from the value the consumer read, without reading the message again', async () => {
    const { caller, calls } = scriptedCaller([]);
    const { processor: p } = processor(caller);
    const read = p.read(message({ ...toolJob, jobID: 'read-once' }));
    // The message now says something else: only what was read counts.
    const outcome = await p.process(message('not json'), source, signals(), read);
    expect(outcome).toMatchObject({ status: 'succeeded', jobID: 'read-once' });
    expect(calls).toEqual([{ name: 'save_note', key: 'read-once' }]);
  });

  it('succeeds after transient failures, using jobID as the idempotency key on every try', async () => {
    const { caller, calls } = scriptedCaller([
      new TransientError('timeout', 't'),
      new TransientError('http-status', '503'),
    ]);
    const { processor: p, metrics } = processor(caller);
    const outcome = await p.process(message(toolJob), source, signals());
    expect(outcome.status).toBe('succeeded');
    expect(outcome.attempts).toBe(3);
    expect(calls.map((c) => c.key)).toEqual(['job-1', 'job-1', 'job-1']);
    expect((await metrics.retries.get()).values.reduce((n, v) => n + v.value, 0)).toBe(2);
  });

  it('gives up after maxAttempts with retries-exhausted', async () => {
    const { caller } = scriptedCaller([1, 2, 3, 4].map(() => new TransientError('timeout', 'slow')));
    const { processor: p } = processor(caller, 3);
    const outcome = await p.process(message(toolJob), source, signals());
    expect(outcome.status).toBe('failed');
    if (outcome.status !== 'failed') return;
    expect(outcome.error.reason).toBe('retries-exhausted');
    expect(outcome.attempts).toBe(3);
  });

  it('waits out an unavailable server without spending attempts', async () => {
    const { caller, calls } = scriptedCaller([
      ...[1, 2, 3, 4, 5, 6].map(() => new ServerUnavailableError('server-unavailable', 'refused')),
      new TransientError('timeout', 'slow'),
    ]);
    const { processor: p } = processor(caller, 2);
    const outcome = await p.process(message(toolJob), source, signals());
    expect(outcome.status).toBe('succeeded');
    expect(outcome.attempts).toBe(2);
    expect(calls).toHaveLength(8);
  });

  it('fails at once on a permanent error (tool error result)', async () => {
    const { caller, calls } = scriptedCaller([new ToolError('save_note', 'bad title')]);
    const { processor: p } = processor(caller);
    const outcome = await p.process(message(toolJob), source, signals());
    expect(outcome.status).toBe('failed');
    if (outcome.status === 'failed') expect(outcome.error.reason).toBe('tool-error');
    expect(calls).toHaveLength(1);
  });

  it('poison messages fail without calling the server, keeping what identity they have', async () => {
    const { caller, calls } = scriptedCaller([]);
    const { processor: p } = processor(caller);
    const bad = await p.process(message('{"jobID":"j9","jobType":"nope","payload":{}}'), source, signals());
    expect(bad).toMatchObject({ status: 'failed', jobID: 'j9', jobType: 'nope', attempts: 0 });
    if (bad.status === 'failed') expect(bad.error).toBeInstanceOf(PermanentError);
    expect(p.jobTypeLabel('nope')).toBe('unknown');
    expect(calls).toHaveLength(0);
  });

  it('server-init initializes every entry with key jobID:name and fails naming the refused ones', async () => {
    const { caller, calls } = scriptedCaller([
      'ok',
      new ToolError('server_initialize', 'command not allowed'),
      'ok',
    ]);
    const { processor: p } = processor(caller);
    const job = {
      jobID: 'init-1',
      jobType: 'server-init',
      payload: JSON.stringify({
        mcpServers: { a: { command: 'node' }, b: { command: 'bash' }, c: { command: 'uv' } },
      }),
    };
    const outcome = await p.process(message(job), source, signals());
    expect(calls.map((c) => c.key)).toEqual(['init-1:a', 'init-1:b', 'init-1:c']);
    expect(outcome.status).toBe('failed');
    if (outcome.status === 'failed') {
      expect(outcome.error.reason).toBe('tool-error');
      expect(outcome.error.message).toContain('b: ');
      expect(outcome.error.message).toContain('succeeded: a, c');
    }
  });

  it('stopping abandons a job waiting to retry (it is not handled)', async () => {
    const { caller } = scriptedCaller([1, 2, 3].map(() => new TransientError('timeout', 'slow')));
    const metrics = createWorkerMetrics(new Registry(), { defaultMetrics: false });
    const p = new JobProcessor({
      registry: createDefaultJobRegistry(),
      client: caller,
      logger: silentLogger(),
      metrics,
      maxAttempts: 10,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
      maxMessageBytes: 1024,
    });
    const wait = new AbortController();
    setTimeout(() => wait.abort(), 20);
    await expect(
      p.process(message(toolJob), source, { call: new AbortController().signal, wait: wait.signal }),
    ).rejects.toBeInstanceOf(JobAbortedError);
  });
});
