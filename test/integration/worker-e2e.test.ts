/**
 * End to end through real parts: seed-format messages on a real broker → kafka-worker →
 * real MCP server (Streamable HTTP) → notes store and server catalog; one outcome event per
 * job on `<topic>.results`; the group's committed offsets reach the end offsets. Also proves
 * replay safety: a redelivered jobID does not repeat its effect.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPLAYED_META_KEY } from '../../src/protocol.ts';
import { connectStreamable, type TestServer } from '../helpers/mcp-server.ts';
import {
  type InProcessWorker,
  type KafkaProbe,
  type Pipeline,
  saveNoteJob,
  scrapeMetric,
  startPipeline,
  type TopicWatch,
  uniqueName,
  waitUntil,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('kafka-worker end to end', () => {
  let server: TestServer;
  let probe: KafkaProbe;
  let worker: InProcessWorker;
  let results: TopicWatch;
  const topic = uniqueName('e2e');
  const group = uniqueName('e2e-group');

  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ brokers, topic, group });
    ({ server, probe, worker, results } = pipeline);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('creates its topics with the configured partitions', async () => {
    const metadata = await probe.admin.fetchTopicMetadata({
      topics: [topic, `${topic}.dlq`, `${topic}.results`],
    });
    expect(metadata.topics.map((t) => t.partitions.length)).toEqual([4, 4, 4]);
  });

  it('runs seed-format server-init and tool-call jobs, publishes outcomes, and commits to the end', async () => {
    const serverInit = {
      jobID: uniqueName('init'),
      jobType: 'server-init',
      // The seed's shape: payload is a JSON string holding an mcpServers map.
      payload: JSON.stringify({
        mcpServers: {
          'notes-self': {
            command: 'node',
            args: ['src/bin/mcp-server.ts', '--stdio'],
            env: { NOTES_DB: ':memory:' },
          },
        },
      }),
    };
    const notes = Array.from({ length: 40 }, (_, i) => {
      const job = saveNoteJob(uniqueName(`note-${i}`), `e2e note ${i}`, `body ${i}`);
      // Half as the seed's JSON-string payload, half as an object.
      return i % 2 === 0 ? { ...job, payload: JSON.stringify(job.payload) } : job;
    });
    await probe.produceJobs(topic, [serverInit, ...notes]);

    const events = await results.waitFor((e) => e.length >= 41);
    expect(events).toHaveLength(41);
    expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
    const init = events.find((e) => e.jobID === serverInit.jobID);
    expect(init).toMatchObject({
      jobType: 'server-init',
      status: 'succeeded',
      attempts: 1,
      source: { topic },
      result: { servers: [{ name: 'notes-self', status: 'ready', replayed: false }] },
    });
    const servers = (init?.result?.servers ?? []) as Array<{ tools: string[] }>;
    expect(servers[0]?.tools).toContain('save_note');
    for (const e of events) {
      expect(typeof e.durationMs).toBe('number');
      expect(Date.parse(e.finishedAt)).not.toBeNaN();
    }

    expect(await server.store.countNotes()).toBe(40);
    expect(await server.store.getNote('e2e note 7')).toMatchObject({ content: 'body 7' });
    const catalog = await server.store.listCatalog();
    expect(catalog.find((c) => c.name === 'notes-self')).toMatchObject({ status: 'ready' });

    await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
    const dlq = await probe.ends(`${topic}.dlq`);
    expect([...dlq.values()].reduce((a, b) => a + b, 0)).toBe(0);

    const metrics = `${worker.http.url}/metrics`;
    expect(await scrapeMetric(metrics, 'kafka_worker_jobs_total', { outcome: 'succeeded' })).toBe(41);
    expect(await scrapeMetric(metrics, 'kafka_worker_jobs_total', { job_type: 'server-init' })).toBe(1);
    expect(await scrapeMetric(metrics, 'kafka_worker_mcp_connections_total')).toBe(1);
    await waitUntil(
      async () => (await scrapeMetric(metrics, 'kafka_worker_consumer_lag')) === 0,
      10_000,
      'lag metric at 0',
    );
    expect((await fetch(`${worker.http.url}/health`)).status).toBe(200);
    const ready = await fetch(`${worker.http.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', consumer: true, mcp: true, publish: { ok: true } });
  });

  it('a redelivered job does not repeat its effect (idempotency key = jobID)', async () => {
    const title = uniqueName('replayed note');
    const first = saveNoteJob(uniqueName('job-a'), title, 'version A');
    const second = saveNoteJob(uniqueName('job-b'), title, 'version B');
    await probe.produceJobs(topic, [first]);
    await results.waitFor((e) => e.some((x) => x.jobID === first.jobID));
    await probe.produceJobs(topic, [second]);
    await results.waitFor((e) => e.some((x) => x.jobID === second.jobID));
    expect(await server.store.getNote(title)).toMatchObject({ content: 'version B' });

    // The first job again, as after a crash before its commit: if save_note ran again the note
    // would go back to "version A".
    await probe.produceJobs(topic, [first]);
    const events = await results.waitFor((e) => e.filter((x) => x.jobID === first.jobID).length >= 2);
    const runs = events.filter((x) => x.jobID === first.jobID);
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(runs.map((r) => r.result?.replayed)).toEqual([false, true]);
    expect(await server.store.getNote(title)).toMatchObject({ content: 'version B' });

    // The server counted one real save per jobID and one replay.
    const serverMetrics = await server.server.metrics.toolCalls.get();
    const replayed = serverMetrics.values.find(
      (v) => v.labels.tool === 'save_note' && v.labels.outcome === 'replayed',
    );
    expect(replayed?.value).toBeGreaterThanOrEqual(1);
  });

  it('a redelivered server-init replays each entry instead of spawning it again', async () => {
    const job = {
      jobID: uniqueName('init-again'),
      jobType: 'server-init',
      payload: {
        mcpServers: { 'notes-twice': { command: 'node', args: ['src/bin/mcp-server.ts', '--stdio'] } },
      },
    };
    await probe.produceJobs(topic, [job]);
    await results.waitFor((e) => e.some((x) => x.jobID === job.jobID));
    const before = (await server.store.listCatalog()).find((c) => c.name === 'notes-twice');
    expect(before?.status).toBe('ready');

    await probe.produceJobs(topic, [job]);
    const events = await results.waitFor((e) => e.filter((x) => x.jobID === job.jobID).length >= 2);
    const again = events.filter((x) => x.jobID === job.jobID)[1];
    expect(again?.result?.servers).toMatchObject([{ name: 'notes-twice', replayed: true }]);
    const after = (await server.store.listCatalog()).find((c) => c.name === 'notes-twice');
    expect(after?.initializedAt).toBe(before?.initializedAt);
  });

  it('the same idempotency key sent by a plain MCP client is answered from the record', async () => {
    const { client } = await connectStreamable(server.url);
    try {
      const key = uniqueName('direct');
      const call = () =>
        client.callTool({
          name: 'save_note',
          arguments: { title: key, content: 'x' },
          _meta: { 'mcp-hybrid/idempotency-key': key },
        });
      const a = await call();
      const b = await call();
      expect(a._meta?.[REPLAYED_META_KEY]).toBeUndefined();
      expect(b._meta?.[REPLAYED_META_KEY]).toBe(true);
    } finally {
      await client.close();
    }
  });
});
