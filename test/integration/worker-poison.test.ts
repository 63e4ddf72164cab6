/**
 * Poison messages — not JSON, wrong schema, unknown jobType, too large, bad payload, tool
 * error results, a job that keeps timing out — each land in `<topic>.dlq` with the original
 * key/value and headers naming the reason, get a `failed` outcome event, and do not block
 * the partition: good jobs behind them (same partition) still run, and the group's offsets
 * reach the end. The first suite runs in `partition` order, so outcomes and dead letters follow
 * offset order exactly; the second runs the default `key` mode and `unordered` with overlap.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/kafka/dead-letter.ts';
import { startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  saveNoteJob,
  scrapeMetric,
  startInProcessWorker,
  type TopicWatch,
  toolCallJob,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('kafka-worker poison messages', () => {
  let server: TestServer;
  let probe: KafkaProbe;
  let worker: InProcessWorker;
  let dlq: TopicWatch;
  let results: TopicWatch;
  const topic = uniqueName('poison');
  const group = uniqueName('poison-group');

  beforeAll(async () => {
    server = await startTestServer({ MCP_INIT_TIMEOUT_MS: '20000' });
    probe = await new KafkaProbe(brokers).connect();
    // One partition, so every poison message sits in front of the good job behind it.
    await probe.createTopics(topic, 1);
    worker = await startInProcessWorker(
      workerEnv({
        brokers,
        topic,
        group,
        serverUrl: server.url,
        extra: {
          WORKER_ORDERING: 'partition',
          WORKER_MAX_MESSAGE_BYTES: String(64 * 1024),
          WORKER_MAX_ATTEMPTS: '2',
          WORKER_CALL_TIMEOUT_MS: '1500',
        },
      }),
    );
    dlq = await probe.watch(`${topic}.dlq`);
    results = await probe.watch(`${topic}.results`);
  });

  afterAll(async () => {
    await worker?.stop();
    await dlq?.stop();
    await results?.stop();
    await probe?.close();
    await server?.stop();
  });

  it('dead-letters each poison message with its reason and keeps the partition flowing', async () => {
    const good1 = saveNoteJob(uniqueName('good-1'), uniqueName('before poison'));
    const good2 = saveNoteJob(uniqueName('good-2'), uniqueName('after poison'));
    const huge = saveNoteJob('huge-1', 'huge', 'x'.repeat(100 * 1024));
    const hanging = {
      jobID: uniqueName('hangs'),
      jobType: 'server-init',
      payload: { mcpServers: { silent: { command: 'node', args: ['-e', 'setInterval(() => {}, 1000)'] } } },
    };
    const poison: Array<{ key: string | null; value: string | null; reason: string; jobID?: string }> = [
      { key: 'p-not-json', value: 'this is not JSON {', reason: 'invalid-json' },
      {
        key: 'p-schema',
        value: JSON.stringify({ jobID: 5, jobType: 'tool-call' }),
        reason: 'invalid-envelope',
      },
      {
        key: 'p-unknown',
        value: JSON.stringify({ jobID: 'p-unknown', jobType: 'launch-rockets', payload: {} }),
        reason: 'unknown-job-type',
        jobID: 'p-unknown',
      },
      { key: 'huge-1', value: JSON.stringify(huge), reason: 'message-too-large' },
      {
        key: 'p-bad-payload',
        value: JSON.stringify({ jobID: 'p-bad-payload', jobType: 'tool-call', payload: '{"tool": ' }),
        reason: 'invalid-payload',
        jobID: 'p-bad-payload',
      },
      {
        key: 'p-missing-note',
        value: JSON.stringify(toolCallJob('p-missing-note', 'read_note', { title: uniqueName('nope') })),
        reason: 'tool-error',
        jobID: 'p-missing-note',
      },
      {
        key: 'p-not-allowed',
        value: JSON.stringify({
          jobID: 'p-not-allowed',
          jobType: 'server-init',
          payload: JSON.stringify({ mcpServers: { evil: { command: 'bash', args: ['-c', 'echo hi'] } } }),
        }),
        reason: 'tool-error',
        jobID: 'p-not-allowed',
      },
      {
        key: 'p-no-tool',
        value: JSON.stringify(toolCallJob('p-no-tool', 'no_such_tool', {})),
        reason: 'tool-error|protocol-error',
        jobID: 'p-no-tool',
      },
      { key: 'p-tombstone', value: null, reason: 'invalid-envelope' },
      {
        key: hanging.jobID,
        value: JSON.stringify(hanging),
        reason: 'retries-exhausted',
        jobID: hanging.jobID,
      },
    ];
    await probe.produce(topic, [
      { key: good1.jobID, value: JSON.stringify(good1) },
      ...poison.map(({ key, value }) => ({ key, value })),
      { key: good2.jobID, value: JSON.stringify(good2) },
    ]);

    const events = await results.waitFor((e) => e.length >= poison.length + 2, 90_000);
    expect(events.map((e) => e.source.offset)).toEqual(events.map((_, i) => String(i)));
    expect(events[0]).toMatchObject({ jobID: good1.jobID, status: 'succeeded' });
    expect(events.at(-1)).toMatchObject({ jobID: good2.jobID, status: 'succeeded' });
    expect(await server.store.getNote(good2.payload.arguments.title)).toBeDefined();

    await waitUntil(() => dlq.messages.length >= poison.length, 10_000, 'dead letters');
    expect(dlq.messages).toHaveLength(poison.length);
    for (const [i, expected] of poison.entries()) {
      const letter = dlq.messages[i]!;
      const header = (name: string) => letter.headers?.[name]?.toString();
      // The letter's message in the label, so an unexpected reason explains itself in the log.
      const label = `${expected.key}: ${header(DLQ_HEADERS.errorMessage)}`;
      expect(header(DLQ_HEADERS.errorReason), label).toMatch(new RegExp(`^(${expected.reason})$`));
      expect(header(DLQ_HEADERS.errorClass)).toMatch(/Error$/);
      expect(header(DLQ_HEADERS.errorMessage)?.length).toBeGreaterThan(0);
      expect(header(DLQ_HEADERS.originalTopic)).toBe(topic);
      expect(header(DLQ_HEADERS.originalPartition)).toBe('0');
      expect(header(DLQ_HEADERS.originalOffset)).toBe(String(i + 1));
      expect(header(DLQ_HEADERS.jobID)).toBe(expected.jobID);
      expect(letter.key?.toString()).toBe(expected.key);
      expect(letter.value === null ? null : letter.value.toString()).toBe(expected.value);
      const event = events[i + 1]!;
      expect(event.status).toBe('failed');
      expect(event.error?.reason).toBe(header(DLQ_HEADERS.errorReason));
    }
    const exhausted = dlq.messages.at(-1)!;
    expect(exhausted.headers?.[DLQ_HEADERS.attempts]?.toString()).toBe('2');
    expect(exhausted.headers?.[DLQ_HEADERS.errorMessage]?.toString()).toContain('timeout');

    await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
    const metrics = `${worker.http.url}/metrics`;
    expect(await scrapeMetric(metrics, 'kafka_worker_dlq_messages_total')).toBe(poison.length);
    // not JSON, unknown jobType, too large (unread), tombstone: no known job type to label them with.
    expect(
      await scrapeMetric(metrics, 'kafka_worker_jobs_total', {
        outcome: 'dead_lettered',
        job_type: 'unknown',
      }),
    ).toBe(4);
    expect(await scrapeMetric(metrics, 'kafka_worker_retries_total', { reason: 'timeout' })).toBe(1);
  });
});

describe.each(['key', 'unordered'])(
  'kafka-worker with overlapping jobs in a partition (WORKER_ORDERING=%s, WORKER_JOBS_PER_PARTITION=8)',
  (ordering) => {
    it('handles every job once, dead-letters the poison, and commits to the end', async () => {
      const server = await startTestServer();
      const probe = await new KafkaProbe(brokers).connect();
      const topic = uniqueName('pipelined');
      const group = uniqueName('pipelined-group');
      await probe.createTopics(topic, 1);
      const worker = await startInProcessWorker(
        workerEnv({
          brokers,
          topic,
          group,
          serverUrl: server.url,
          extra: { WORKER_ORDERING: ordering, WORKER_JOBS_PER_PARTITION: '8' },
        }),
      );
      const results = await probe.watch(`${topic}.results`);
      try {
        const messages = Array.from({ length: 200 }, (_, i) =>
          i % 25 === 7
            ? { key: `poison-${i}`, value: `not json ${i}` }
            : {
                key: `pipelined-${i}`,
                value: JSON.stringify(saveNoteJob(`${topic}-${i}`, `${topic} note ${i}`)),
              },
        );
        await probe.produce(topic, messages);
        const events = await results.waitFor((e) => e.length >= messages.length, 60_000);
        expect(events).toHaveLength(messages.length);
        expect(new Set(events.map((e) => e.source.offset)).size).toBe(messages.length);
        expect(events.filter((e) => e.status === 'failed').map((e) => e.error?.reason)).toEqual(
          Array(8).fill('invalid-json'),
        );
        await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
        expect((await probe.ends(`${topic}.dlq`)).get(0)).toBe(8);
        expect(await server.store.countNotes()).toBe(192);
      } finally {
        await worker.stop();
        await results.stop();
        await probe.close();
        await server.stop();
      }
    });
  },
);
