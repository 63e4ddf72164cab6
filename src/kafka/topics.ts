/**
 * Makes sure the worker's topics exist before it consumes or produces: the jobs topic (with
 * KAFKA_TOPIC_PARTITIONS partitions when we create it; an existing topic is left as it is),
 * `<topic>.dlq` and `<topic>.results`. Safe to run from many workers at once: a topic created
 * concurrently by another worker counts as existing.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';

export interface WorkerTopics {
  topic: string;
  dlqTopic: string;
  resultsTopic: string;
}

/** The dead-letter topic keeps whole original messages plus headers, so it accepts larger ones. */
export const DLQ_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export function workerTopicConfigs(
  topics: WorkerTopics,
  options: { partitions: number; replicationFactor: number },
): ITopicConfig[] {
  return [
    { topic: topics.topic, numPartitions: options.partitions, replicationFactor: options.replicationFactor },
    {
      topic: topics.dlqTopic,
      numPartitions: options.partitions,
      replicationFactor: options.replicationFactor,
      configEntries: [{ name: 'max.message.bytes', value: String(DLQ_MAX_MESSAGE_BYTES) }],
    },
    {
      topic: topics.resultsTopic,
      numPartitions: options.partitions,
      replicationFactor: options.replicationFactor,
    },
  ];
}

function isAlreadyExists(err: unknown): boolean {
  const e = err as { type?: string; errors?: Array<{ type?: string }> };
  return (
    e?.type === 'TOPIC_ALREADY_EXISTS' ||
    (e?.errors?.every((x) => x.type === 'TOPIC_ALREADY_EXISTS') ?? false)
  );
}

/** Creates the topics that do not exist yet; returns the names it created. */
export async function ensureTopics(admin: Admin, configs: ITopicConfig[], logger: Logger): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = configs.filter((c) => !existing.has(c.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  logger.info({ topics: missing.map((c) => c.topic) }, 'created topics');
  return missing.map((c) => c.topic);
}
