/**
 * Producer settings and the batching publisher through which the worker writes dead letters
 * and outcome events.
 *
 * The producer is idempotent (acks=all, one in-flight request, broker-side de-duplication), so
 * a retried send never duplicates a record. The publisher sends one round at a time; while
 * one is in flight, new messages queue and go out together in the next — small batches at low
 * load, large ones at high load, with no fixed linger. `publish()` resolves only once its
 * messages are acknowledged by the broker: the consumer resolves an offset only after that, so
 * a dead letter or outcome event is durable before the job's offset can be committed. A failed
 * send is retried with backoff until it succeeds or the publisher is aborted.
 *
 * One request covers ONE partition. kafkajs 2.2.4 groups a multi-partition send by leader and,
 * when a retry follows a partial failure (one leader died), skips every broker that already
 * answered the first try — even when the dead leader's partitions have moved to that broker — and
 * resolves the send although those partitions' messages were never written. So the publisher
 * partitions messages itself (the same murmur2 as kafkajs' DefaultPartitioner, so keys land
 * where any Java-compatible producer would put them), sends each partition's messages as their
 * own request, and counts a partition as written only when the broker's answer names it without
 * an error. Partition counts are read once at start (adding partitions to `.results`/`.dlq`
 * takes effect at the worker's next start).
 */
import {
  type Message,
  Partitioners,
  type PartitionMetadata,
  type Producer,
  type ProducerConfig,
  type RecordMetadata,
} from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { type BackoffPolicy, backoffDelay, sleep } from '../retry/backoff.ts';
import { errorMessage } from '../retry/errors.ts';

export const IDEMPOTENT_PRODUCER_CONFIG: ProducerConfig = {
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
  createPartitioner: Partitioners.DefaultPartitioner,
};

export interface OutboundMessage {
  topic: string;
  message: Message;
}

interface Pending {
  messages: OutboundMessage[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface PublisherOptions {
  producer: Pick<Producer, 'send'>;
  /** Partitions of a topic the publisher writes to (throws for a topic it does not know). */
  partitionCount: (topic: string) => number;
  logger: Logger;
  /** Messages per round at most (a single publish() is never split). */
  maxBatchMessages?: number;
  retry?: BackoffPolicy;
  onSendError?: (err: unknown) => void;
}

export class PublisherAbortedError extends Error {
  override name = 'PublisherAbortedError';
}

/** The broker answered a send without confirming its partition: nothing is assumed written. */
export class UnconfirmedPublishError extends Error {
  override name = 'UnconfirmedPublishError';
}

export interface PartitionMessages {
  topic: string;
  partition: number;
  messages: Message[];
}

/**
 * Splits messages into one group per topic-partition, choosing partitions as kafkajs'
 * DefaultPartitioner would (murmur2 of the key; round robin for keyless messages).
 */
export function groupByPartition(
  messages: OutboundMessage[],
  partitionCount: (topic: string) => number,
  partitioner = Partitioners.DefaultPartitioner(),
): PartitionMessages[] {
  const groups = new Map<string, PartitionMessages>();
  const metadata = new Map<string, PartitionMetadata[]>();
  for (const { topic, message } of messages) {
    let partitionMetadata = metadata.get(topic);
    if (!partitionMetadata) {
      partitionMetadata = Array.from({ length: partitionCount(topic) }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [],
        isr: [],
      }));
      metadata.set(topic, partitionMetadata);
    }
    const partition = message.partition ?? partitioner({ topic, partitionMetadata, message });
    const id = `${topic}\u0000${partition}`;
    const group = groups.get(id);
    if (group) group.messages.push({ ...message, partition });
    else groups.set(id, { topic, partition, messages: [{ ...message, partition }] });
  }
  return [...groups.values()];
}

/** True when the broker's answer confirms `partition` of `topic` without an error. */
export function confirmsPartition(records: RecordMetadata[], topic: string, partition: number): boolean {
  return records.some((r) => r.topicName === topic && r.partition === partition && r.errorCode === 0);
}

/** Whether outcome events and dead letters are being written right now, and if not, why. */
export interface PublishHealth {
  ok: boolean;
  /** The last error of a partition that has not been written since (e.g. not enough in-sync replicas). */
  reason?: string;
  /** When the oldest partition still failing first failed (ISO 8601). */
  since?: string;
}

export class BatchingPublisher {
  readonly #options: PublisherOptions;
  readonly #abort = new AbortController();
  readonly #partitioner = Partitioners.DefaultPartitioner();
  /** Partitions whose last send failed: first failure time and last error. */
  readonly #failing = new Map<string, { since: number; reason: string }>();
  #queue: Pending[] = [];
  #pumping: Promise<void> | undefined;

  constructor(options: PublisherOptions) {
    this.#options = options;
  }

  /** Resolves once every message is acknowledged by the broker. */
  publish(messages: OutboundMessage[]): Promise<void> {
    if (this.#abort.signal.aborted) return Promise.reject(new PublisherAbortedError('publisher aborted'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ messages, resolve, reject });
      this.#pumping ??= this.#pump().finally(() => {
        this.#pumping = undefined;
      });
    });
  }

  /** Not ok while some partition's messages keep failing to be written (retries go on). */
  health(): PublishHealth {
    if (this.#failing.size === 0) return { ok: true };
    const oldest = [...this.#failing.values()].sort((a, b) => a.since - b.since)[0]!;
    return { ok: false, reason: oldest.reason, since: new Date(oldest.since).toISOString() };
  }

  /** Waits until everything queued so far is acknowledged (or rejected). */
  async flush(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }

  /** Gives up: queued and in-flight publishes reject; later ones reject at once. */
  abort(): void {
    this.#abort.abort(new PublisherAbortedError('publisher aborted'));
    for (const pending of this.#queue.splice(0)) pending.reject(this.#abort.signal.reason);
  }

  async #pump(): Promise<void> {
    const max = this.#options.maxBatchMessages ?? 5_000;
    while (this.#queue.length > 0) {
      const batch: Pending[] = [];
      let count = 0;
      while (
        this.#queue.length > 0 &&
        (batch.length === 0 || count + this.#queue[0]!.messages.length <= max)
      ) {
        const next = this.#queue.shift()!;
        batch.push(next);
        count += next.messages.length;
      }
      try {
        const groups = groupByPartition(
          batch.flatMap((p) => p.messages),
          this.#options.partitionCount,
          this.#partitioner,
        );
        await Promise.all(groups.map((group) => this.#sendWithRetry(group)));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  /** Sends one partition's messages until the broker confirms that partition (or abort). */
  async #sendWithRetry({ topic, partition, messages }: PartitionMessages): Promise<void> {
    const id = `${topic}[${partition}]`;
    for (let retry = 1; ; retry++) {
      if (this.#abort.signal.aborted) throw this.#abort.signal.reason;
      try {
        const records = await this.#options.producer.send({ topic, messages, acks: -1 });
        if (!confirmsPartition(records, topic, partition)) {
          throw new UnconfirmedPublishError(
            `the broker's answer does not confirm ${id}: ${JSON.stringify(records)}`,
          );
        }
        this.#failing.delete(id);
        return;
      } catch (err) {
        this.#options.onSendError?.(err);
        const reason = `${id}: ${errorMessage(err)}`;
        this.#failing.set(id, { since: this.#failing.get(id)?.since ?? Date.now(), reason });
        const delay = backoffDelay(retry, this.#options.retry ?? { initialMs: 200, maxMs: 5_000 });
        this.#options.logger.warn(
          { err: errorMessage(err), topic, partition, retry, delayMs: delay, messages: messages.length },
          'publish to Kafka failed; retrying',
        );
        await sleep(delay, this.#abort.signal);
      }
    }
  }
}
