/**
 * Helpers for the kafka-worker integration tests: real processes (worker, MCP server) and a
 * real broker. `KafkaProbe` produces jobs and reads topics, committed and end offsets through
 * kafkajs; `spawnWorker`/`spawnServer` run this repo's entrypoints as child processes (so a test
 * can SIGKILL or restart them); `startInProcessWorker` wires a KafkaWorker in the test process.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  type Admin,
  AssignerProtocol,
  type EachMessageHandler,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Producer,
} from 'kafkajs';
import { Registry } from 'prom-client';
import { findFreePort } from '../../scripts/kafka-local.ts';
import { parseWorkerConfig, type WorkerConfig } from '../../src/config.ts';
import { createKafka, KAFKA_RETRY } from '../../src/kafka/client.ts';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../../src/kafka/producer.ts';
import type { JobOutcomeEvent } from '../../src/kafka/results.ts';
import { ensureTopics, workerTopicConfigs } from '../../src/kafka/topics.ts';
import type { McpJobClient } from '../../src/mcp-client/client.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { startWorkerHttpServer, type WorkerHttpServer } from '../../src/worker/http.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../../src/worker/metrics.ts';
import { createWorkerMcpClient, KafkaWorker } from '../../src/worker/worker.ts';
import { startTestServer, type TestServer } from './mcp-server.ts';
import { REPO, type Spawned, spawnEntry } from './processes.ts';
import { makeTempDir } from './temp-dirs.ts';

export const WORKER_ENTRY = resolve(REPO, 'src/bin/kafka-worker.ts');
export const SERVER_ENTRY = resolve(REPO, 'src/bin/mcp-server.ts');

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * The one window of the negative checks ("nothing more arrives", "no duplicate follows"): how long
 * a test keeps looking for something that must NOT happen after everything it waits for has been
 * observed. A broken implementation shows itself within it — the worker commits at least every
 * WORKER_COMMIT_INTERVAL_MS (1 s), and a duplicate is published right behind the original — while
 * a correct one passes however slow the machine is; only the power to catch a slower fault shrinks
 * under load. Positive waits never use it: they wait for the offset, event, file or log line.
 */
export const QUIET_WINDOW_MS = 2_000;

/** Waits QUIET_WINDOW_MS; for negative checks only (see there). */
export function quietWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));
}

/**
 * A negative check that keeps looking: runs `check` (which throws, e.g. a failed `expect`, when
 * the unwanted thing happened) every `intervalMs` for QUIET_WINDOW_MS, and once more at its end.
 */
export async function holdsForQuietWindow(check: () => void | Promise<void>, intervalMs = 50): Promise<void> {
  const until = Date.now() + QUIET_WINDOW_MS;
  while (Date.now() < until) {
    await check();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await check();
}

/** A fresh directory under the OS temp dir, removed after the test file (test/helpers/temp-dirs.ts). */
export function tempDir(): string {
  return makeTempDir('kafka-worker-test-');
}

/**
 * Worker env tuned for tests: short session timeout (the broker's minimum), quick backoff. The
 * call timeout stays above the server's own MCP_INIT_TIMEOUT_MS (30 s): a server_initialize
 * that spawns `node src/bin/mcp-server.ts` in the sandbox took over 10 s on a 2-core machine
 * at load average 25 with two busy loops, and a 10 s timeout turned that into a retry
 * (attempts: 2). Tests that exercise the timeout set their own.
 */
export function workerEnv(options: {
  brokers: string;
  topic: string;
  group: string;
  serverUrl: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    KAFKA_BROKERS: options.brokers,
    KAFKA_TOPIC: options.topic,
    MCP_CONSUMER_GROUP: options.group,
    MCP_SERVER_URL: options.serverUrl,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '500',
    KAFKA_REBALANCE_TIMEOUT_MS: '10000',
    WORKER_BACKOFF_INITIAL_MS: '100',
    WORKER_BACKOFF_MAX_MS: '1000',
    WORKER_CALL_TIMEOUT_MS: '45000',
    WORKER_SHUTDOWN_TIMEOUT_MS: '15000',
    WORKER_LAG_INTERVAL_MS: '1000',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...options.extra,
  };
}

export function toolCallJob(
  jobID: string,
  tool: string,
  args: Record<string, unknown>,
  payloadAsString = false,
) {
  const payload = { tool, arguments: args };
  return { jobID, jobType: 'tool-call', payload: payloadAsString ? JSON.stringify(payload) : payload };
}

export function saveNoteJob(jobID: string, title: string, content = `content of ${title}`) {
  return { jobID, jobType: 'tool-call', payload: { tool: 'save_note', arguments: { title, content } } };
}

export interface InProcessWorker {
  worker: KafkaWorker;
  client: McpJobClient;
  metrics: WorkerMetrics;
  config: WorkerConfig;
  http: WorkerHttpServer;
  stop(): Promise<void>;
}

export async function startInProcessWorker(env: Record<string, string>): Promise<InProcessWorker> {
  const config = parseWorkerConfig(env);
  const logger = silentLogger();
  const metrics = createWorkerMetrics(new Registry(), { defaultMetrics: false });
  const kafka = createKafka({ clientId: config.clientId, brokers: config.brokers, logger });
  const client = createWorkerMcpClient(config, logger, metrics);
  const worker = new KafkaWorker({ config, logger, metrics, kafka, client });
  const http = await startWorkerHttpServer({
    port: 0,
    host: '127.0.0.1',
    registry: metrics.registry,
    readiness: {
      consumerJoined: () => worker.consumerJoined,
      mcpConnected: () => client.connected,
      publishing: () => worker.publishHealth(),
    },
    logger,
  });
  await worker.start();
  return {
    worker,
    client,
    metrics,
    config,
    http,
    stop: async () => {
      await worker.close();
      await http.close();
    },
  };
}

export interface SpawnedWorker extends Spawned {
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorker(env: Record<string, string>): SpawnedWorker {
  const spawned = spawnEntry(WORKER_ENTRY, [], env, 'stdout');
  return {
    ...spawned,
    stop: async (signal = 'SIGTERM') => {
      if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill(signal);
      return spawned.exited;
    },
  };
}

export interface ServerProcess {
  url: string;
  port: number;
  process: Spawned;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs `mcp-server` as a child process on `port` (a free one when omitted). */
export async function spawnServer(options: {
  notesDb: string;
  port?: number;
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const port = options.port ?? (await findFreePort());
  const spawned = spawnEntry(
    SERVER_ENTRY,
    [],
    { PORT: String(port), HOST: '127.0.0.1', NOTES_DB: options.notesDb, LOG_LEVEL: 'info', ...options.env },
    'stdout',
  );
  await spawned.waitForLog((line) => line.msg === 'MCP server listening', 30_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: spawned,
    stop: async (signal = 'SIGTERM') => {
      if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill(signal);
      await spawned.exited;
    },
  };
}

/** Reads a Prometheus counter/gauge value (sum over series matching `labels`). */
export async function scrapeMetric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface TopicWatch {
  messages: Array<KafkaMessage & { partition: number }>;
  /** Values parsed as outcome events (for a `.results` topic). */
  events(): JobOutcomeEvent[];
  waitFor(until: (events: JobOutcomeEvent[]) => boolean, timeoutMs?: number): Promise<JobOutcomeEvent[]>;
  /** Waits until every record the topic holds right now has been read. */
  caughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** kafkajs errors that say a broker is gone or moved, not that the request is wrong. */
const CLUSTER_CHANGE_ERRORS = new Set([
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSRequestTimeoutError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSMetadataNotLoaded',
]);
const RIDE_OUT_MS = 90_000;

/**
 * Runs a probe read again while the cluster recovers from a killed node (the probe's own
 * client may still be pointed at it: ECONNREFUSED until its metadata moves on). Only the
 * test's observer rides these out; the system under test is judged by what it writes.
 * Any other error, or one lasting past RIDE_OUT_MS, is thrown.
 */
export async function rideOutClusterChange<T>(what: string, read: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RIDE_OUT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const e = err as Error & { retriable?: boolean };
      if (!(CLUSTER_CHANGE_ERRORS.has(e.name) || (e.name?.startsWith('KafkaJS') && e.retriable))) throw err;
      if (Date.now() > deadline) throw err;
      process.stderr.write(`[probe] ${what}: ${e.name}: ${e.message}; reading again (attempt ${attempt})\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Test-side Kafka access: create topics, produce jobs, read topics and offsets. */
/**
 * An eachMessage handler that appends each record to `into` once. A probe's group may rebalance
 * on a loaded machine (a missed heartbeat) and read again from its last commit; a record read
 * twice must not look like a second outcome event of a job.
 */
function collectOnce(into: Array<KafkaMessage & { partition: number }>): EachMessageHandler {
  const seen = new Set<string>();
  return async ({ message, partition }) => {
    const at = `${partition}:${message.offset}`;
    if (seen.has(at)) return;
    seen.add(at);
    into.push({ ...message, partition });
  };
}

export class KafkaProbe {
  readonly kafka: Kafka;
  readonly admin: Admin;
  #producer: Producer | undefined;

  constructor(brokers: string) {
    this.kafka = new Kafka({
      clientId: 'worker-test-probe',
      brokers: brokers.split(','),
      logLevel: logLevel.NOTHING,
      retry: KAFKA_RETRY,
    });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<this> {
    await this.admin.connect();
    return this;
  }

  /** Creates `<topic>`, `.dlq` and `.results` like the worker would. */
  async createTopics(topic: string, partitions: number): Promise<void> {
    await ensureTopics(
      this.admin,
      workerTopicConfigs(
        { topic, dlqTopic: `${topic}.dlq`, resultsTopic: `${topic}.results` },
        { partitions, replicationFactor: -1 },
      ),
      silentLogger(),
    );
  }

  async produce(
    topic: string,
    messages: Array<{ key?: string | null; value: string | Buffer | null; partition?: number }>,
  ): Promise<void> {
    if (!this.#producer) {
      this.#producer = this.kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
      await this.#producer.connect();
    }
    for (let i = 0; i < messages.length; i += 500) {
      await this.#producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  }

  /** Produces job envelopes keyed by jobID (as `kafka-worker enqueue` does). */
  async produceJobs(
    topic: string,
    jobs: Array<{ jobID: string } & Record<string, unknown>>,
    partition?: number,
  ) {
    await this.produce(
      topic,
      jobs.map((job) => ({
        key: job.jobID,
        value: JSON.stringify(job),
        ...(partition !== undefined && { partition }),
      })),
    );
  }

  /** Every message of `topic` from the beginning, once `until` holds for them (or throws). */
  async readTopic(
    topic: string,
    until: (messages: Array<KafkaMessage & { partition: number }>) => boolean,
    timeoutMs = 60_000,
  ): Promise<Array<KafkaMessage & { partition: number }>> {
    const consumer = this.kafka.consumer({ groupId: uniqueName('probe'), sessionTimeout: 6_000 });
    const seen: Array<KafkaMessage & { partition: number }> = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ eachMessage: collectOnce(seen) });
      await waitUntil(() => until(seen), timeoutMs, `messages on ${topic} (have ${seen.length})`);
      return [...seen];
    } finally {
      await consumer.disconnect();
    }
  }

  /**
   * Starts reading `topic` from the beginning and keeps collecting (one consumer for the whole
   * test, instead of a group join per read).
   */
  async watch(topic: string): Promise<TopicWatch> {
    const consumer = this.kafka.consumer({ groupId: uniqueName('watch'), sessionTimeout: 6_000 });
    const messages: Array<KafkaMessage & { partition: number }> = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.run({ eachMessage: collectOnce(messages) });
    await waitUntil(() => joined, 30_000, `watcher on ${topic} to join`);
    const events = () => messages.map((m) => JSON.parse(String(m.value)) as JobOutcomeEvent);
    return {
      messages,
      events,
      waitFor: async (until, timeoutMs = 60_000) => {
        await waitUntil(() => until(events()), timeoutMs, `events on ${topic} (have ${messages.length})`);
        return events();
      },
      caughtUp: async (timeoutMs = 30_000) => {
        const ends = await this.ends(topic);
        const read = () => {
          const next = new Map<number, number>();
          for (const m of messages)
            next.set(m.partition, Math.max(next.get(m.partition) ?? 0, Number(m.offset) + 1));
          return next;
        };
        // Offsets of a non-transactional topic are contiguous: the last one read is end - 1.
        await waitUntil(
          () => [...ends].every(([partition, end]) => (read().get(partition) ?? 0) >= end),
          timeoutMs,
          `the watch on ${topic} to read up to ${JSON.stringify([...ends])}`,
        );
      },
      stop: () => consumer.disconnect(),
    };
  }

  async readResults(topic: string, until: (events: JobOutcomeEvent[]) => boolean, timeoutMs = 60_000) {
    const messages = await this.readTopic(
      `${topic}.results`,
      (msgs) => until(msgs.map((m) => JSON.parse(String(m.value)) as JobOutcomeEvent)),
      timeoutMs,
    );
    return messages.map((m) => JSON.parse(String(m.value)) as JobOutcomeEvent);
  }

  /** Committed offset per partition for `group` (-1 when none). */
  async committed(group: string, topic: string): Promise<Map<number, number>> {
    const [t] = await rideOutClusterChange('committed offsets', () =>
      this.admin.fetchOffsets({ groupId: group, topics: [topic] }),
    );
    return new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  }

  /** End (high watermark) offset per partition. */
  async ends(topic: string): Promise<Map<number, number>> {
    const offsets = await rideOutClusterChange('end offsets', () => this.admin.fetchTopicOffsets(topic));
    return new Map(offsets.map((p) => [p.partition, Number(p.high)]));
  }

  /** Partitions of `topic` held by each member of `group`, once the group is Stable; else undefined. */
  async assignments(group: string, topic: string): Promise<number[][] | undefined> {
    const { groups } = await rideOutClusterChange('group description', () =>
      this.admin.describeGroups([group]),
    );
    const described = groups[0];
    if (described?.state !== 'Stable') return undefined;
    return described.members.map((member) => {
      const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
      return decoded?.assignment[topic] ?? [];
    });
  }

  /** Waits until the group is Stable with `members` members that each hold partitions of `topic`. */
  async waitForMembersHolding(
    group: string,
    topic: string,
    members: number,
    timeoutMs = 60_000,
  ): Promise<void> {
    await waitUntil(
      async () => {
        const held = await this.assignments(group, topic);
        return held?.length === members && held.every((p) => p.length > 0);
      },
      timeoutMs,
      `${members} members of ${group} each holding partitions of ${topic}`,
    );
  }

  async committedAtEnd(group: string, topic: string): Promise<boolean> {
    const [committed, ends] = await Promise.all([this.committed(group, topic), this.ends(topic)]);
    for (const [partition, end] of ends) {
      const c = committed.get(partition) ?? -1;
      if (end > 0 && c !== end) return false;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.#producer?.disconnect();
    await this.admin.disconnect();
  }
}

/** A real MCP server, a probe on the broker, an in-process worker and a watch on `<topic>.results`. */
export interface Pipeline {
  server: TestServer;
  probe: KafkaProbe;
  worker: InProcessWorker;
  results: TopicWatch;
  /** Stops them in reverse order of start. */
  stop(): Promise<void>;
}

/** Starts a Pipeline; `partitions` creates the jobs topic first (else the worker creates it). */
export async function startPipeline(options: {
  brokers: string;
  topic: string;
  group: string;
  partitions?: number;
}): Promise<Pipeline> {
  const { brokers, topic, group } = options;
  const server = await startTestServer();
  const probe = await new KafkaProbe(brokers).connect();
  if (options.partitions !== undefined) await probe.createTopics(topic, options.partitions);
  const worker = await startInProcessWorker(workerEnv({ brokers, topic, group, serverUrl: server.url }));
  const results = await probe.watch(`${topic}.results`);
  return {
    server,
    probe,
    worker,
    results,
    stop: async () => {
      await worker.stop();
      await results.stop();
      await probe.close();
      await server.stop();
    },
  };
}
