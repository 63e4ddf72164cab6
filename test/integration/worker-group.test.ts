/**
 * Two workers in one consumer group: they split the topic's partitions between them, and
 * rebalances in the middle of a stream (a worker joining, a worker leaving) lose no job and
 * repeat no effect.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobOutcomeEvent } from '../../src/kafka/results.ts';
import { startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  saveNoteJob,
  startInProcessWorker,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

async function saveNoteSuccesses(server: TestServer): Promise<number> {
  const metric = await server.server.metrics.toolCalls.get();
  return metric.values
    .filter((v) => v.labels.tool === 'save_note' && v.labels.outcome === 'success')
    .reduce((n, v) => n + v.value, 0);
}

describe('kafka-worker consumer group', () => {
  let server: TestServer;
  let probe: KafkaProbe;
  const running: InProcessWorker[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    probe = await new KafkaProbe(brokers).connect();
  });

  afterAll(async () => {
    await Promise.all(running.map((w) => w.stop()));
    await probe?.close();
    await server?.stop();
  });

  async function start(topic: string, group: string, name: string): Promise<InProcessWorker> {
    const worker = await startInProcessWorker(
      workerEnv({ brokers, topic, group, serverUrl: server.url, extra: { KAFKA_CLIENT_ID: name } }),
    );
    running.push(worker);
    return worker;
  }

  async function stop(worker: InProcessWorker): Promise<void> {
    running.splice(running.indexOf(worker), 1);
    await worker.stop();
  }

  it('two workers split the partitions', async () => {
    const topic = uniqueName('group');
    const group = uniqueName('group-group');
    await probe.createTopics(topic, 4);
    const results = await probe.watch(`${topic}.results`);
    try {
      const a = await start(topic, group, 'worker-a');
      const b = await start(topic, group, 'worker-b');
      await waitUntil(() => a.worker.ready && b.worker.ready, 30_000, 'both workers in the group');
      // The first worker's solo assignment is replaced by the shared one: both hold partitions.
      await probe.waitForMembersHolding(group, topic, 2, 30_000);
      const before = results.events().length;
      const jobs = Array.from({ length: 400 }, (_, i) =>
        saveNoteJob(uniqueName(`split-${i}`), uniqueName('split')),
      );
      await probe.produceJobs(topic, jobs);
      const events = (await results.waitFor((e) => e.length >= before + jobs.length, 60_000)).slice(before);

      const partitionsBy = new Map<string, Set<number>>();
      for (const e of events) {
        const name = e.worker.split('@')[0] ?? '';
        partitionsBy.set(name, (partitionsBy.get(name) ?? new Set()).add(e.source.partition));
      }
      expect([...partitionsBy.keys()].sort()).toEqual(['worker-a', 'worker-b']);
      const [pa, pb] = [partitionsBy.get('worker-a')!, partitionsBy.get('worker-b')!];
      expect(pa.size + pb.size).toBe(4);
      expect([...pa].filter((p) => pb.has(p))).toEqual([]);
      await waitUntil(() => probe.committedAtEnd(group, topic), 15_000, 'committed offsets at the end');
    } finally {
      await results.stop();
      await Promise.all([...running].map((w) => stop(w)));
    }
  });

  it('rebalances mid-stream (a worker joins, then another leaves) lose nothing', async () => {
    const topic = uniqueName('rebalance');
    const group = uniqueName('rebalance-group');
    await probe.createTopics(topic, 4);
    const results = await probe.watch(`${topic}.results`);
    try {
      const successBefore = await saveNoteSuccesses(server);
      const jobs = Array.from({ length: 2_250 }, (_, i) =>
        saveNoteJob(uniqueName(`rb-${i}`), uniqueName('rb')),
      );
      // A third now, the rest once worker-b holds partitions: a fast worker-a could otherwise
      // finish every job before worker-b joins, and there would be no rebalance mid-stream.
      await probe.produceJobs(topic, jobs.slice(0, 750));

      const a = await start(topic, group, 'worker-a');
      await results.waitFor((e) => e.length >= 150, 60_000);
      await start(topic, group, 'worker-b');
      await probe.waitForMembersHolding(group, topic, 2);
      await probe.produceJobs(topic, jobs.slice(750));
      await results.waitFor((e) => e.some((x) => x.worker.startsWith('worker-b@')), 60_000);
      await results.waitFor((e) => e.length >= 600, 60_000);
      expect(results.events().length).toBeLessThan(jobs.length);
      await stop(a);

      const unique = (e: JobOutcomeEvent[]) => new Set(e.map((x) => x.jobID)).size;
      const events = await results.waitFor((e) => unique(e) >= jobs.length, 120_000);
      expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
      expect(new Set(events.map((e) => e.jobID))).toEqual(new Set(jobs.map((j) => j.jobID)));
      await waitUntil(() => probe.committedAtEnd(group, topic), 20_000, 'committed offsets at the end');
      expect((await probe.ends(`${topic}.dlq`)).get(0)).toBe(0);
      // Jobs redelivered across a rebalance were replays, not second effects.
      expect((await saveNoteSuccesses(server)) - successBefore).toBe(jobs.length);
      const seen = new Set<string>();
      for (const e of events) {
        if (seen.has(e.jobID ?? '')) expect(e.result?.replayed).toBe(true);
        seen.add(e.jobID ?? '');
      }
    } finally {
      await results.stop();
    }
  });
});
