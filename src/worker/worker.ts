/**
 * Assembles one kafka-worker from its parts (all passed in): topics → producer/publisher →
 * MCP client → consumer → lag poller. `close()` undoes it in reverse and is bounded by
 * WORKER_SHUTDOWN_TIMEOUT_MS: stop fetching, let in-flight jobs finish (aborting them at 70% of
 * the budget), commit, flush outcome events, disconnect.
 */
import { hostname } from 'node:os';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { WorkerConfig } from '../config.ts';
import { type LagPoller, startLagPoller } from '../kafka/lag.ts';
import { BatchingPublisher, IDEMPOTENT_PRODUCER_CONFIG, type PublishHealth } from '../kafka/producer.ts';
import { ensureTopics, workerTopicConfigs } from '../kafka/topics.ts';
import { McpJobClient } from '../mcp-client/client.ts';
import type { Logger } from '../observability/logger.ts';
import { JobConsumer } from './consumer.ts';
import { createDefaultJobRegistry } from './handlers/index.ts';
import type { WorkerMetrics } from './metrics.ts';
import { JobProcessor } from './process-job.ts';
import type { JobRegistry } from './registry.ts';

export interface KafkaWorkerDeps {
  config: WorkerConfig;
  logger: Logger;
  metrics: WorkerMetrics;
  kafka: Kafka;
  client: McpJobClient;
  registry?: JobRegistry;
  /** Called when the consumer dies for good; the entrypoint exits non-zero. */
  onFatal?: (err: unknown) => void;
}

/** The MCP client for a worker, reporting its connection state to the metrics. */
export function createWorkerMcpClient(
  config: WorkerConfig,
  logger: Logger,
  metrics: WorkerMetrics,
): McpJobClient {
  return new McpJobClient({
    serverUrl: config.serverUrls,
    authToken: config.authToken,
    callTimeoutMs: config.callTimeoutMs,
    logger,
    reconnect: {
      initialMs: Math.min(config.backoffInitialMs, 1_000),
      maxMs: Math.min(config.backoffMaxMs, 10_000),
    },
    onConnectionChange: (connected) => {
      metrics.mcpConnected.set(connected ? 1 : 0);
      if (connected) metrics.mcpReconnects.inc();
    },
  });
}

export class KafkaWorker {
  readonly #deps: KafkaWorkerDeps;
  readonly #admin: Admin;
  readonly #producer: Producer;
  readonly #publisher: BatchingPublisher;
  readonly #consumer: JobConsumer;
  /** Partitions of `.results` and `.dlq`, read at start (the publisher partitions by key itself). */
  readonly #partitionCounts = new Map<string, number>();
  #lag: LagPoller | undefined;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(deps: KafkaWorkerDeps) {
    this.#deps = deps;
    const { config, kafka, logger, metrics } = deps;
    this.#admin = kafka.admin();
    this.#producer = kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
    this.#publisher = new BatchingPublisher({
      producer: this.#producer,
      partitionCount: (topic) => {
        const count = this.#partitionCounts.get(topic);
        if (count === undefined)
          throw new Error(`no partition count for ${topic}: the worker has not started`);
        return count;
      },
      logger: logger.child({ component: 'publisher' }),
      onSendError: () => metrics.publishErrors.inc(),
    });
    const processor = new JobProcessor({
      registry: deps.registry ?? createDefaultJobRegistry(),
      client: deps.client,
      logger,
      metrics,
      maxAttempts: config.maxAttempts,
      backoff: { initialMs: config.backoffInitialMs, maxMs: config.backoffMaxMs },
      maxMessageBytes: config.maxMessageBytes,
    });
    this.#consumer = new JobConsumer({
      kafka,
      topic: config.topic,
      dlqTopic: config.dlqTopic,
      resultsTopic: config.resultsTopic,
      groupId: config.groupId,
      workerId: `${config.clientId}@${hostname()}:${process.pid}`,
      partitionsConcurrency: config.partitionsConcurrency,
      ordering: config.ordering,
      jobsPerPartition: config.jobsPerPartition,
      sessionTimeoutMs: config.sessionTimeoutMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      rebalanceTimeoutMs: config.rebalanceTimeoutMs,
      commitIntervalMs: config.commitIntervalMs,
      processor,
      publisher: this.#publisher,
      metrics,
      logger,
      ...(deps.onFatal !== undefined && { onFatal: deps.onFatal }),
    });
  }

  /** Readiness: in the consumer group with an assignment, and an MCP session open. */
  get ready(): boolean {
    return this.#consumer.joined && this.#deps.client.connected;
  }

  get consumerJoined(): boolean {
    return this.#consumer.joined;
  }

  /** A kafkajs consumer restart began before close() and cannot be cancelled (JobConsumer). */
  get consumerRestartUnderWay(): boolean {
    return this.#consumer.restartUnderWay;
  }

  /** Whether outcome events and dead letters are being written, and if not, why. */
  publishHealth(): PublishHealth {
    return this.#publisher.health();
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this.#deps;
    this.#started = true;
    await this.#admin.connect();
    await ensureTopics(
      this.#admin,
      workerTopicConfigs(config, {
        partitions: config.topicPartitions,
        replicationFactor: config.replicationFactor,
      }),
      logger,
    );
    const { topics } = await this.#admin.fetchTopicMetadata({
      topics: [config.dlqTopic, config.resultsTopic],
    });
    for (const t of topics) this.#partitionCounts.set(t.name, t.partitions.length);
    await this.#producer.connect();
    this.#deps.client.start();
    await this.#consumer.start();
    this.#lag = startLagPoller({
      admin: this.#admin,
      groupId: config.groupId,
      topic: config.topic,
      intervalMs: config.lagIntervalMs,
      logger,
      onLag: (partitions) => {
        for (const p of partitions) {
          metrics.consumerLag.set({ topic: config.topic, partition: String(p.partition) }, p.lag);
        }
      },
    });
    logger.info(
      {
        topic: config.topic,
        group: config.groupId,
        servers: config.serverUrls,
        concurrency: config.partitionsConcurrency,
        ordering: config.ordering,
        jobsPerPartition: config.jobsPerPartition,
      },
      'kafka-worker started',
    );
  }

  /** Idempotent; see the module header for the order and the deadline. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const { config, logger } = this.#deps;
    const started = Date.now();
    logger.info({ inFlight: this.#consumer.inFlight }, 'kafka-worker stopping');
    this.#lag?.stop();
    if (this.#started) {
      await this.#consumer.close(Math.floor(config.shutdownTimeoutMs * 0.7)).catch((err: unknown) => {
        logger.warn({ err: String(err) }, 'consumer did not stop cleanly');
      });
      await this.#publisher.flush();
      await this.#producer.disconnect().catch(() => undefined);
      await this.#admin.disconnect().catch(() => undefined);
    }
    await this.#deps.client.close();
    logger.info({ durationMs: Date.now() - started }, 'kafka-worker stopped');
  }
}
