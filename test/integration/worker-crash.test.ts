/**
 * Crash safety with real worker processes. A worker SIGKILLed with jobs in flight: its
 * committed offsets never pass a job without an outcome event, and a second worker in the same
 * group finishes the rest — every job handled, none lost, and none run twice in effect (the
 * server ran save_note exactly once per jobID; redelivered jobs were answered from the
 * idempotency record). A worker sent SIGTERM with jobs in flight finishes them, commits
 * exactly what it handled, and exits 0 within WORKER_SHUTDOWN_TIMEOUT_MS.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobOutcomeEvent } from '../../src/kafka/results.ts';
import { expectCommittedCoveredByOutcomes } from '../helpers/commit-invariants.ts';
import { saveNoteCalls, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import {
  KafkaProbe,
  type SpawnedWorker,
  saveNoteJob,
  spawnWorker,
  type TopicWatch,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('kafka-worker crash safety (worker processes)', () => {
  let server: TestServer;
  let probe: KafkaProbe;
  const workers: SpawnedWorker[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    probe = await new KafkaProbe(brokers).connect();
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await probe?.close();
    await server?.stop();
  });

  it('SIGKILL mid-stream: no job lost, none repeated in effect, commits never ahead of outcomes', async () => {
    const topic = uniqueName('crash');
    const group = uniqueName('crash-group');
    await probe.createTopics(topic, 4);
    const results: TopicWatch = await probe.watch(`${topic}.results`);
    try {
      const jobs = Array.from({ length: 1_000 }, (_, i) =>
        saveNoteJob(uniqueName(`crash-${i}`), uniqueName('crash note')),
      );
      const successBefore = await saveNoteCalls(server, 'success');
      await probe.produceJobs(topic, jobs);
      const env = workerEnv({ brokers, topic, group, serverUrl: server.url });

      const first = spawnWorker(env);
      workers.push(first);
      await results.waitFor((e) => e.length >= 100, 60_000);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const atKill = results.events().length;
      expect(atKill).toBeLessThan(jobs.length);

      // What the dead worker committed is covered by outcome events it published (all read).
      await results.caughtUp();
      expectCommittedCoveredByOutcomes(await probe.committed(group, topic), results.events());

      const second = spawnWorker(env);
      workers.push(second);
      const events = await results.waitFor(
        (e) => new Set(e.filter((x) => x.status === 'succeeded').map((x) => x.jobID)).size >= jobs.length,
        120_000,
      );
      expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
      expect(new Set(events.map((e) => e.jobID))).toEqual(new Set(jobs.map((j) => j.jobID)));
      await waitUntil(() => probe.committedAtEnd(group, topic), 20_000, 'committed offsets at the end');
      expectCommittedCoveredByOutcomes(await probe.committed(group, topic), results.events());

      // Exactly once in effect: the server ran save_note once per job; every repeat of a jobID
      // (the dead worker's uncommitted tail, redelivered) was a replay.
      expect((await saveNoteCalls(server, 'success')) - successBefore).toBe(jobs.length);
      process.stderr.write(
        `SIGKILL after ${atKill} outcomes; ${events.length - jobs.length} redelivered job(s), ` +
          `${await saveNoteCalls(server, 'replayed')} replayed by the server\n`,
      );
      const byJob = new Map<string, JobOutcomeEvent[]>();
      for (const e of events) byJob.set(e.jobID ?? '', [...(byJob.get(e.jobID ?? '') ?? []), e]);
      for (const runs of byJob.values()) {
        expect(
          runs.slice(1).every((r) => r.result?.replayed === true),
          `repeats of a job must be replays: ${JSON.stringify(runs.map((r) => ({ ...r, result: { replayed: r.result?.replayed } })))}`,
        ).toBe(true);
      }
      expect((await probe.ends(`${topic}.dlq`)).get(0)).toBe(0);
      expect(await server.store.countNotes()).toBeGreaterThanOrEqual(jobs.length);

      expect((await second.stop('SIGTERM')).code).toBe(0);
    } finally {
      await results.stop();
    }
  });

  it('SIGTERM mid-stream: finishes in-flight jobs, commits exactly what it handled, exits 0 in time', async () => {
    const topic = uniqueName('term');
    const group = uniqueName('term-group');
    await probe.createTopics(topic, 4);
    const results = await probe.watch(`${topic}.results`);
    try {
      const jobs = Array.from({ length: 1_000 }, (_, i) =>
        saveNoteJob(uniqueName(`term-${i}`), uniqueName('term note')),
      );
      const successBefore = await saveNoteCalls(server, 'success');
      await probe.produceJobs(topic, jobs);
      const env = workerEnv({
        brokers,
        topic,
        group,
        serverUrl: server.url,
        extra: { WORKER_SHUTDOWN_TIMEOUT_MS: '10000' },
      });

      const worker = spawnWorker(env);
      workers.push(worker);
      await results.waitFor((e) => e.length >= 100, 60_000);
      const signalled = Date.now();
      const exit = await worker.stop('SIGTERM');
      expect(exit.code).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(10_000);
      expect(worker.logs.some((l) => l.msg === 'kafka-worker stopped')).toBe(true);

      // After a clean stop the committed offset of each partition is exactly one past the last
      // job it handled there: nothing handled is left uncommitted, nothing unhandled committed.
      await results.caughtUp();
      const events = results.events();
      expect(events.length).toBeLessThan(jobs.length);
      const committed = await probe.committed(group, topic);
      expectCommittedCoveredByOutcomes(committed, events);
      for (const [partition, offset] of committed) {
        const handled = events
          .filter((e) => e.source.partition === partition)
          .map((e) => Number(e.source.offset));
        expect(offset, `partition ${partition}`).toBe(handled.length === 0 ? -1 : Math.max(...handled) + 1);
      }

      const next = spawnWorker(env);
      workers.push(next);
      await results.waitFor((e) => new Set(e.map((x) => x.jobID)).size >= jobs.length, 120_000);
      await waitUntil(() => probe.committedAtEnd(group, topic), 20_000, 'committed offsets at the end');
      // A clean handover: no job was redelivered, so none was even replayed.
      expect(results.events()).toHaveLength(jobs.length);
      expect((await saveNoteCalls(server, 'success')) - successBefore).toBe(jobs.length);
      expect((await next.stop('SIGTERM')).code).toBe(0);
    } finally {
      await results.stop();
    }
  });
});
