/**
 * MCP server outage: the server (a real process) is stopped while jobs are queued. Nothing is
 * committed and nothing is dead-lettered while it is down, readiness reports the missing MCP
 * session, and once the server is back on the same port every job completes. Also: the server
 * killed (SIGKILL) in the middle of a stream of jobs loses none of them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectStreamable } from '../helpers/mcp-server.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  quietWindow,
  type ServerProcess,
  saveNoteJob,
  spawnServer,
  startInProcessWorker,
  type TopicWatch,
  tempDir,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

async function countNotes(url: string, prefix: string): Promise<number> {
  const { client } = await connectStreamable(url);
  try {
    const result = await client.callTool({
      name: 'search_notes',
      arguments: { keyword: prefix, limit: 500 },
    });
    if (result.isError) throw new Error(JSON.stringify(result.content));
    return ((result.structuredContent as { notes: unknown[] } | undefined)?.notes ?? []).length;
  } finally {
    await client.close();
  }
}

/** Retries the worker counted, for one reason or all. */
async function retries(worker: InProcessWorker, reason?: string): Promise<number> {
  const { values } = await worker.metrics.retries.get();
  return values
    .filter((v) => reason === undefined || v.labels.reason === reason)
    .reduce((n, v) => n + v.value, 0);
}

describe('kafka-worker during an MCP server outage', () => {
  const dir = tempDir();
  const notesDb = join(dir, 'notes.db');
  let server: ServerProcess;
  let probe: KafkaProbe;
  let worker: InProcessWorker;
  let results: TopicWatch;
  let dlq: TopicWatch;
  const topic = uniqueName('outage');
  const group = uniqueName('outage-group');

  beforeAll(async () => {
    server = await spawnServer({ notesDb });
    probe = await new KafkaProbe(brokers).connect();
    worker = await startInProcessWorker(workerEnv({ brokers, topic, group, serverUrl: server.url }));
    results = await probe.watch(`${topic}.results`);
    dlq = await probe.watch(`${topic}.dlq`);
  });

  afterAll(async () => {
    await worker?.stop();
    await results?.stop();
    await dlq?.stop();
    await probe?.close();
    await server?.stop();
  });

  it('holds queued jobs uncommitted while the server is down and finishes them when it returns', async () => {
    const warmup = saveNoteJob(uniqueName('warmup'), uniqueName('warmup'));
    await probe.produceJobs(topic, [warmup]);
    await results.waitFor((e) => e.some((x) => x.jobID === warmup.jobID));
    await waitUntil(() => probe.committedAtEnd(group, topic), 10_000, 'warm-up committed');
    const committedBefore = await probe.committed(group, topic);

    await server.stop();
    await waitUntil(
      async () => (await fetch(`${worker.http.url}/ready`)).status === 503,
      10_000,
      'not ready',
    );
    expect(await (await fetch(`${worker.http.url}/ready`)).json()).toMatchObject({
      consumer: true,
      mcp: false,
    });

    const prefix = uniqueName('outage-note');
    const jobs = Array.from({ length: 30 }, (_, i) =>
      saveNoteJob(uniqueName(`outage-${i}`), `${prefix} ${i}`),
    );
    await probe.produceJobs(topic, jobs);
    // The worker tries, finds the server gone and waits: seen in its retry counter. Then nothing
    // may be handled, committed or dead-lettered.
    await waitUntil(
      async () => (await retries(worker, 'server-unavailable')) >= 3,
      30_000,
      'the worker to retry against the stopped server',
    );
    await quietWindow();
    expect(results.events()).toHaveLength(1);
    expect(await probe.committed(group, topic)).toEqual(committedBefore);
    expect(dlq.messages).toHaveLength(0);

    server = await spawnServer({ notesDb, port: server.port });
    const events = await results.waitFor((e) => e.length >= 31, 60_000);
    expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
    expect(new Set(events.map((e) => e.jobID))).toEqual(new Set([warmup, ...jobs].map((j) => j.jobID)));
    await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
    await waitUntil(
      async () => (await fetch(`${worker.http.url}/ready`)).status === 200,
      10_000,
      'ready again',
    );
    expect(dlq.messages).toHaveLength(0);
    expect(await countNotes(server.url, prefix)).toBe(30);
  });

  it('loses nothing when the server is killed in the middle of a stream of jobs', async () => {
    const prefix = uniqueName('killed-note');
    const jobs = Array.from({ length: 300 }, (_, i) =>
      saveNoteJob(uniqueName(`killed-${i}`), `${prefix} ${i}`),
    );
    const before = results.events().length;
    await probe.produceJobs(topic, jobs);
    await results.waitFor((e) => e.length >= before + 20, 30_000);
    const retriesBefore = await retries(worker);
    server.process.child.kill('SIGKILL');
    await server.process.exited;
    // Restart only once the worker has met the dead server (or, on a fast machine, had finished).
    await waitUntil(
      async () =>
        (await retries(worker)) > retriesBefore ||
        new Set(results.events().map((e) => e.jobID)).size >= before + jobs.length,
      30_000,
      'the worker to notice the killed server',
    );
    server = await spawnServer({ notesDb, port: server.port });

    const events = await results.waitFor(
      (e) => new Set(e.map((x) => x.jobID)).size >= before + jobs.length,
      90_000,
    );
    const mine = events.filter((e) => jobs.some((j) => j.jobID === e.jobID));
    expect(mine.filter((e) => e.status !== 'succeeded')).toEqual([]);
    expect(new Set(mine.map((e) => e.jobID)).size).toBe(jobs.length);
    await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
    expect(dlq.messages).toHaveLength(0);
    expect(await countNotes(server.url, prefix)).toBe(jobs.length);
  });
});
