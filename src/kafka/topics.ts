/**
 * Makes sure the worker's topics exist before it consumes or produces: the jobs topic (with
 * KAFKA_TOPIC_PARTITIONS partitions when we create it; an existing topic is left as it is),
 * `<topic>.dlq` and `<topic>.results`. Safe to run from many workers at once: a topic created
 * concurrently by another worker counts as existing.
 *
 * It returns only once every partition of every topic has a leader. kafkajs' own wait
 * (`createTopics({waitForLeaders: true})`) asks one broker for metadata and gives up at the
 * first "This server does not host this topic-partition", which a multi-node KRaft cluster
 * answers for as long as the new topic has not reached that broker's metadata cache yet; here
 * that answer (and "leader not available", and a broker that just went away) means "ask again".
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { sleep } from '../retry/backoff.ts';
import { errorMessage } from '../retry/errors.ts';

/** How long ensureTopics waits for leaders of new (or existing) topics before it gives up. */
export const TOPIC_LEADERS_TIMEOUT_MS = 60_000;

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

/**
 * Creates the topics that do not exist yet and waits until every partition of every topic in
 * `configs` has a leader; returns the names it created.
 */
export async function ensureTopics(
  admin: Admin,
  configs: ITopicConfig[],
  logger: Logger,
  timeoutMs = TOPIC_LEADERS_TIMEOUT_MS,
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = configs.filter((c) => !existing.has(c.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: false });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    logger.info({ topics: missing.map((c) => c.topic) }, 'created topics');
  }
  // An existing topic keeps the partitions it has; a new one must show all it was created with.
  const expected = configs.map((c) => ({
    topic: c.topic,
    partitions: existing.has(c.topic) ? 1 : Math.max(1, c.numPartitions ?? 1),
  }));
  await waitForLeaders(admin, expected, timeoutMs);
  return missing.map((c) => c.topic);
}

/**
 * Answers in a row (50 ms apart) that must show every leader. A broker learns of a new topic
 * from the metadata log a moment after another, and kafkajs asks whichever connected broker it
 * picks, so one good answer does not mean the next broker asked knows the topic yet. This
 * narrows that window; it cannot close it (kafkajs' admin cannot address one broker), which is
 * why the consumer's subscribe also retries "unknown topic" (worker/consumer.ts).
 */
const CONFIRMATIONS = 5;

/**
 * Polls topic metadata until each topic has at least `partitions` partitions, each with a
 * leader, CONFIRMATIONS times in a row. Every error is a reason to ask again until the
 * deadline; then the last one is thrown.
 */
export async function waitForLeaders(
  admin: Admin,
  configs: Array<{ topic: string; partitions: number }>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  let confirmed = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: configs.map((c) => c.topic) });
      const waiting = configs.filter((config) => {
        const partitions = topics.find((t) => t.name === config.topic)?.partitions ?? [];
        return partitions.length < config.partitions || partitions.some((p) => p.leader < 0);
      });
      if (waiting.length === 0 && ++confirmed >= CONFIRMATIONS) return;
      if (waiting.length > 0) {
        confirmed = 0;
        last = `no leader yet for a partition of ${waiting.map((c) => c.topic).join(', ')}`;
      }
    } catch (err) {
      confirmed = 0;
      last = errorMessage(err);
    }
    if (confirmed > 0) {
      await sleep(50);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new Error(`topics have no leaders after ${timeoutMs} ms: ${last}`);
    }
    await sleep(Math.min(100 * attempt, 1_000));
  }
}
