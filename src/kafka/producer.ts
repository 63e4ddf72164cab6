/**
 * Producer settings and the batching publisher through which the worker writes dead letters
 * and outcome events.
 *
 * The producer is idempotent (acks=all, one in-flight request, broker-side de-duplication), so
 * a retried send never duplicates a record. The publisher sends one request at a time; while
 * one is in flight, new messages queue and go out together in the next — small batches at low
 * load, large ones at high load, with no fixed linger. `publish()` resolves only once its
 * messages are acknowledged by the broker: the consumer resolves an offset only after that, so
 * a dead letter or outcome event is durable before the job's offset can be committed. A failed
 * send is retried with backoff until it succeeds or the publisher is aborted.
 */
import { type Message, Partitioners, type Producer, type ProducerConfig } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { type BackoffPolicy, backoffDelay, sleep } from '../worker/backoff.ts';
import { errorMessage } from '../worker/errors.ts';

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
  producer: Pick<Producer, 'sendBatch'>;
  logger: Logger;
  /** Messages per request at most (a single publish() is never split). */
  maxBatchMessages?: number;
  retry?: BackoffPolicy;
  onSendError?: (err: unknown) => void;
}

export class PublisherAbortedError extends Error {
  override name = 'PublisherAbortedError';
}

export class BatchingPublisher {
  readonly #options: PublisherOptions;
  readonly #abort = new AbortController();
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
        await this.#sendWithRetry(batch.flatMap((p) => p.messages));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  async #sendWithRetry(messages: OutboundMessage[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of messages) {
      const list = byTopic.get(topic);
      if (list) list.push(message);
      else byTopic.set(topic, [message]);
    }
    const topicMessages = [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs }));
    for (let retry = 1; ; retry++) {
      if (this.#abort.signal.aborted) throw this.#abort.signal.reason;
      try {
        await this.#options.producer.sendBatch({ topicMessages, acks: -1 });
        return;
      } catch (err) {
        this.#options.onSendError?.(err);
        const delay = backoffDelay(retry, this.#options.retry ?? { initialMs: 200, maxMs: 5_000 });
        this.#options.logger.warn(
          { err: errorMessage(err), retry, delayMs: delay, messages: messages.length },
          'publish to Kafka failed; retrying',
        );
        await sleep(delay, this.#abort.signal);
      }
    }
  }
}
