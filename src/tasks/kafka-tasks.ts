/**
 * Starts and stops the server's Kafka task path: producer (idempotent, acks=all) for the jobs
 * topic, the shared outcomes consumer, the DurableTaskStore the SDK answers tasks/* from, and
 * pruning of expired task records (at start, then every MCP_TASK_PRUNE_INTERVAL). Only started when KAFKA_BROKERS is set on the server.
 */
import type { TaskServerConfig } from '../config.ts';
import { createKafka } from '../kafka/client.ts';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../kafka/producer.ts';
import { ensureTopics, workerTopicConfigs } from '../kafka/topics.ts';
import type { Logger } from '../observability/logger.ts';
import type { KafkaTaskHooks } from './augment.ts';
import { consumeTaskOutcomes } from './outcomes.ts';
import type { TaskRecordStore } from './records.ts';
import { type ScopeOf, taskScopeResolver } from './scope.ts';
import { DurableTaskStore } from './sdk-task-store.ts';
import { TaskService } from './service.ts';

/** Tools that accept task-augmented calls: the long-running ones (see server_initialize's description). */
export const TASK_TOOLS: ReadonlySet<string> = new Set(['server_initialize']);

export interface KafkaTasks {
  hooks: KafkaTaskHooks;
  taskStore: DurableTaskStore;
  scopeOf: ScopeOf;
  close(): Promise<void>;
}

export async function startKafkaTasks(options: {
  config: TaskServerConfig;
  authToken: string | undefined;
  records: TaskRecordStore;
  logger: Logger;
}): Promise<KafkaTasks> {
  const { config, records } = options;
  const logger = options.logger.child({ component: 'tasks' });
  const kafka = createKafka({ clientId: config.clientId, brokers: config.brokers, logger });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(
      admin,
      workerTopicConfigs(
        { topic: config.topic, dlqTopic: `${config.topic}.dlq`, resultsTopic: `${config.topic}.results` },
        { partitions: config.topicPartitions, replicationFactor: config.replicationFactor },
      ),
      logger,
    );
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
  await producer.connect();
  const consumer = kafka.consumer({ groupId: config.outcomesGroup });
  const scopeOf = taskScopeResolver(options.authToken);
  const service = new TaskService({
    records,
    producer,
    logger,
    settings: {
      topic: config.topic,
      defaultTtlMs: config.defaultTtlMs,
      maxTtlMs: config.maxTtlMs,
      pollIntervalMs: config.pollIntervalMs,
      cancelCheckMs: config.pollIntervalMs,
    },
  });
  const taskStore = new DurableTaskStore({
    records,
    scopeOf,
    pageSize: config.listPageSize,
    onTerminal: (id) => service.noteTerminal(id),
  });
  try {
    await consumeTaskOutcomes({ consumer, resultsTopic: `${config.topic}.results`, records, logger });
  } catch (err) {
    await producer.disconnect().catch(() => {});
    throw err;
  }
  const prune = async () => {
    try {
      const removed = await records.prune(Date.now());
      if (removed > 0) logger.info({ removed }, 'pruned expired tasks');
    } catch (err) {
      logger.warn({ err }, 'pruning expired tasks failed; will retry');
    }
  };
  void prune();
  const timer = setInterval(() => void prune(), config.pruneIntervalMs);
  timer.unref();
  logger.info({ topic: config.topic, outcomesGroup: config.outcomesGroup }, 'MCP tasks over Kafka enabled');
  return {
    hooks: { service, scopeOf, taskTools: TASK_TOOLS, logger },
    taskStore,
    scopeOf,
    close: async () => {
      clearInterval(timer);
      await consumer
        .disconnect()
        .catch((err: unknown) => logger.warn({ err }, 'outcomes consumer disconnect'));
      await producer.disconnect().catch((err: unknown) => logger.warn({ err }, 'task producer disconnect'));
    },
  };
}
