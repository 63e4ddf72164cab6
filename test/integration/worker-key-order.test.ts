/**
 * Ordering by message key (WORKER_ORDERING=key, the default) against a real broker, a real MCP
 * server and real worker processes: many keys with several jobs each, so a partition's window
 * holds jobs of many keys at once.
 *
 * The order is read from the server's side: every job saves its own note `<run>/<key>/<seq>`, and
 * the server store's change feed (`watchNoteChanges`, called after each commit) gives the order in
 * which the server actually applied them. The first job of every key carries a large content, so
 * it takes longer than the ones behind it: if jobs of one key overlapped, a later one would be
 * applied first (run with WORKER_ORDERING=unordered, the first test fails on exactly that).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobOutcomeEvent } from '../../src/kafka/results.ts';
import { expectCommittedCoveredByOutcomes } from '../helpers/commit-invariants.ts';
import { saveNoteCalls, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  type SpawnedWorker,
  saveNoteJob,
  spawnWorker,
  startInProcessWorker,
  type TopicWatch,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

/** Size of the first job's content per key: slow enough to be overtaken if order were lost. */
const HEAVY_CONTENT = 'x'.repeat(40_000);

interface KeyedJob {
  key: string;
  seq: number;
  jobID: string;
  title: string;
}

/** `perKey` jobs for each of `keys` keys, produced seq-major (so one key's jobs sit apart). */
function keyedJobs(run: string, keys: number, perKey: number): KeyedJob[] {
  const jobs: KeyedJob[] = [];
  for (let seq = 0; seq < perKey; seq++) {
    for (let k = 0; k < keys; k++) {
      const key = `key-${k}`;
      jobs.push({ key, seq, jobID: `${run}-${key}-${seq}`, title: `${run}/${key}/${seq}` });
    }
  }
  return jobs;
}

function messagesOf(jobs: KeyedJob[]) {
  return jobs.map((job) => ({
    key: job.key,
    value: JSON.stringify(
      saveNoteJob(job.jobID, job.title, job.seq === 0 ? HEAVY_CONTENT : `job ${job.seq} of ${job.key}`),
    ),
  }));
}

/** Records the titles of `run`'s notes in the order the server committed them. */
async function watchServerOrder(server: TestServer, run: string) {
  const applied: string[] = [];
  const unwatch = await server.store.watchNoteChanges((change) => {
    if (change.kind === 'created' && change.title.startsWith(`${run}/`)) applied.push(change.title);
  });
  return { applied, unwatch };
}

/** Every key's notes were applied by the server in seq order, each exactly once. */
function expectPerKeyOrder(applied: string[], jobs: KeyedJob[]) {
  expect(new Set(applied).size, 'a note was created twice').toBe(applied.length);
  const byKey = new Map<string, number[]>();
  for (const title of applied) {
    const [, key, seq] = title.split('/');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(seq)]);
  }
  const perKey = Math.max(...jobs.map((j) => j.seq)) + 1;
  for (const key of new Set(jobs.map((j) => j.key))) {
    expect(byKey.get(key), `order in which the server applied the jobs of ${key}`).toEqual(
      Array.from({ length: perKey }, (_, i) => i),
    );
  }
}

/** The most jobs of one partition that were running at the same moment (from outcome events). */
function maxOverlapInAPartition(events: JobOutcomeEvent[]): number {
  let best = 0;
  for (const partition of new Set(events.map((e) => e.source.partition))) {
    const edges: Array<[number, number]> = [];
    for (const e of events.filter((x) => x.source.partition === partition)) {
      const end = Date.parse(e.finishedAt);
      edges.push([end - e.durationMs, 1], [end, -1]);
    }
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    for (const [, delta] of edges) {
      running += delta;
      best = Math.max(best, running);
    }
  }
  return best;
}

/** Produces in small sends: the large first jobs must stay under the broker's request limit. */
async function produceKeyed(probe: KafkaProbe, topic: string, jobs: KeyedJob[]) {
  const messages = messagesOf(jobs);
  for (let i = 0; i < messages.length; i += 20) await probe.produce(topic, messages.slice(i, i + 20));
}

describe('kafka-worker ordering by key', () => {
  let server: TestServer;
  let probe: KafkaProbe;
  const spawned: SpawnedWorker[] = [];
  const inProcess: InProcessWorker[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    probe = await new KafkaProbe(brokers).connect();
  });

  afterAll(async () => {
    await Promise.all(spawned.map((w) => w.stop('SIGKILL')));
    await Promise.all(inProcess.map((w) => w.stop()));
    await probe?.close();
    await server?.stop();
  });

  it('jobs of one key run in offset order while different keys of a partition run concurrently', async () => {
    const topic = uniqueName('keyorder');
    const group = uniqueName('keyorder-group');
    await probe.createTopics(topic, 4);
    const order = await watchServerOrder(server, topic);
    const results = await probe.watch(`${topic}.results`);
    const jobs = keyedJobs(topic, 40, 6);
    try {
      const worker = spawnWorker(workerEnv({ brokers, topic, group, serverUrl: server.url }));
      spawned.push(worker);
      await worker.waitForLog((l) => l.msg === 'joined consumer group', 60_000);
      await produceKeyed(probe, topic, jobs);
      const events = await results.waitFor((e) => e.length >= jobs.length, 120_000);
      expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
      await waitUntil(() => order.applied.length >= jobs.length, 30_000, 'every note applied');
      expectPerKeyOrder(order.applied, jobs);
      // Concurrency really happened within partitions (else the order above proves nothing).
      const overlap = maxOverlapInAPartition(events);
      expect(overlap).toBeGreaterThan(1);
      await waitUntil(() => probe.committedAtEnd(group, topic), 20_000, 'committed offsets at the end');
      process.stderr.write(`key order: up to ${overlap} jobs of one partition ran at once\n`);
      expect((await worker.stop('SIGTERM')).code).toBe(0);
    } finally {
      order.unwatch();
      await results.stop();
    }
  });

  it('kill -9 mid-window: unhandled jobs are redelivered, committed ones are not redone, key order holds', async () => {
    const topic = uniqueName('keycrash');
    const group = uniqueName('keycrash-group');
    await probe.createTopics(topic, 4);
    const order = await watchServerOrder(server, topic);
    const results: TopicWatch = await probe.watch(`${topic}.results`);
    const jobs = keyedJobs(topic, 60, 20);
    try {
      const successBefore = await saveNoteCalls(server, 'success');
      await produceKeyed(probe, topic, jobs);
      const env = workerEnv({ brokers, topic, group, serverUrl: server.url });

      const first = spawnWorker(env);
      spawned.push(first);
      await results.waitFor((e) => e.length >= 150, 60_000);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');

      // What the dead worker committed is covered by outcome events it published (all read).
      await results.caughtUp();
      const beforeKill = results.events();
      const committedAtKill = await probe.committed(group, topic);
      expect(beforeKill.length).toBeLessThan(jobs.length);
      expectCommittedCoveredByOutcomes(committedAtKill, beforeKill);

      const second = spawnWorker(env);
      spawned.push(second);
      const unique = (e: JobOutcomeEvent[]) => new Set(e.map((x) => x.jobID)).size;
      const events = await results.waitFor((e) => unique(e) >= jobs.length, 180_000);
      await waitUntil(() => probe.committedAtEnd(group, topic), 30_000, 'committed offsets at the end');
      await results.caughtUp();
      const all = results.events();

      // Nothing lost, nothing dead-lettered.
      expect(all.filter((e) => e.status !== 'succeeded')).toEqual([]);
      expect(new Set(all.map((e) => e.jobID))).toEqual(new Set(jobs.map((j) => j.jobID)));
      expect((await probe.ends(`${topic}.dlq`)).get(0)).toBe(0);
      // Handled and committed before the kill: not run again. Only offsets at or past the
      // committed one were redelivered, and a redelivered job that had been handled is a replay.
      const after = all.slice(beforeKill.length);
      for (const e of after) {
        const committed = committedAtKill.get(e.source.partition) ?? -1;
        expect(Number(e.source.offset), `${e.jobID} redone below the commit`).toBeGreaterThanOrEqual(
          Math.max(committed, 0),
        );
      }
      const handledBefore = new Set(beforeKill.map((e) => e.jobID));
      const redelivered = after.filter((e) => handledBefore.has(e.jobID));
      expect(redelivered.every((e) => e.result?.replayed === true)).toBe(true);
      // Exactly once in effect, and in key order across the crash.
      expect((await saveNoteCalls(server, 'success')) - successBefore).toBe(jobs.length);
      await waitUntil(() => order.applied.length >= jobs.length, 30_000, 'every note applied');
      expectPerKeyOrder(order.applied, jobs);
      process.stderr.write(
        `key crash: killed after ${beforeKill.length} outcomes; ${redelivered.length} handled-but-uncommitted ` +
          `job(s) redelivered and replayed; ${events.length - beforeKill.length} outcomes after\n`,
      );
      expect((await second.stop('SIGTERM')).code).toBe(0);
    } finally {
      order.unwatch();
      await results.stop();
    }
  });

  it('a rebalance mid-window (a worker joins, another leaves) loses nothing and keeps key order', async () => {
    const topic = uniqueName('keyrebalance');
    const group = uniqueName('keyrebalance-group');
    await probe.createTopics(topic, 4);
    const order = await watchServerOrder(server, topic);
    const results = await probe.watch(`${topic}.results`);
    const jobs = keyedJobs(topic, 60, 25);
    const start = async (name: string) => {
      const worker = await startInProcessWorker(
        workerEnv({ brokers, topic, group, serverUrl: server.url, extra: { KAFKA_CLIENT_ID: name } }),
      );
      inProcess.push(worker);
      return worker;
    };
    try {
      const successBefore = await saveNoteCalls(server, 'success');
      // Half the jobs first (each key's earlier sequence numbers: keyedJobs is sequence-major),
      // the rest once worker-b holds partitions: on a quiet machine worker-a alone finished all
      // 1,500 before worker-b joined, so worker-b must have work produced after its join.
      const half = jobs.length / 2;
      await produceKeyed(probe, topic, jobs.slice(0, half));
      const a = await start('worker-a');
      await results.waitFor((e) => e.length >= 150, 60_000);
      await start('worker-b');
      await probe.waitForMembersHolding(group, topic, 2);
      await produceKeyed(probe, topic, jobs.slice(half));
      await results.waitFor((e) => e.some((x) => x.worker.startsWith('worker-b@')), 60_000);
      inProcess.splice(inProcess.indexOf(a), 1);
      await a.stop();

      const unique = (e: JobOutcomeEvent[]) => new Set(e.map((x) => x.jobID)).size;
      const events = await results.waitFor((e) => unique(e) >= jobs.length, 180_000);
      expect(events.filter((e) => e.status !== 'succeeded')).toEqual([]);
      expect(new Set(events.map((e) => e.jobID))).toEqual(new Set(jobs.map((j) => j.jobID)));
      await waitUntil(() => probe.committedAtEnd(group, topic), 30_000, 'committed offsets at the end');
      expect((await probe.ends(`${topic}.dlq`)).get(0)).toBe(0);
      expect((await saveNoteCalls(server, 'success')) - successBefore).toBe(jobs.length);
      const seen = new Set<string>();
      for (const e of events) {
        if (seen.has(e.jobID ?? '')) expect(e.result?.replayed).toBe(true);
        seen.add(e.jobID ?? '');
      }
      await waitUntil(() => order.applied.length >= jobs.length, 30_000, 'every note applied');
      expectPerKeyOrder(order.applied, jobs);
    } finally {
      order.unwatch();
      await results.stop();
    }
  });
});
