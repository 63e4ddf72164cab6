/**
 * The consumer loop: commitAfterHandled.
 *
 * Invariants:
 * - An offset is resolved (and so may be committed) only after its job is HANDLED: it
 *   succeeded, or its dead letter was acknowledged by the broker — and in both cases its
 *   outcome event was acknowledged too. Offsets are resolved strictly in order per partition,
 *   so the committed offset never passes an unhandled job. A crash before the commit means
 *   redelivery, never loss; the server's idempotency keys make the redelivery harmless.
 * - Partitions are processed concurrently (WORKER_PARTITIONS_CONCURRENCY); within a partition
 *   MCP calls run one at a time, in offset order. What is pipelined is the Kafka side: while
 *   job N's outcome is being published, job N+1 already runs; acks resolve offsets in order.
 * - A poison message never blocks its partition: decoding and permanent failures are
 *   dead-lettered at once.
 * - Heartbeats continue while a job runs or waits to retry, so a long outage does not get the
 *   worker thrown out of the group (and there is no crash loop: nothing throws on a failing job).
 * - On a rebalance or stop, jobs waiting to retry are abandoned (not handled, not committed);
 *   the job running an MCP call finishes, handled offsets are committed, then control returns
 *   to kafkajs.
 *
 * Known kafkajs limitation: one fetch serves all partitions led by a broker, and the next fetch
 * waits for every partition's batch; a job retrying for a long time therefore delays NEW
 * fetches for the partitions sharing its broker (their already-fetched batches keep flowing).
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { buildDeadLetterMessage } from '../kafka/dead-letter.ts';
import { type BatchingPublisher, type OutboundMessage, PublisherAbortedError } from '../kafka/producer.ts';
import { buildResultMessage, type JobOutcomeEvent } from '../kafka/results.ts';
import type { Logger } from '../observability/logger.ts';
import { startJobSpan } from '../observability/tracing.ts';
import { sleep } from '../retry/backoff.ts';
import { errorMessage, JobAbortedError } from '../retry/errors.ts';
import { peekJobIdentity } from './envelope.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { JobOutcome, JobProcessor } from './process-job.ts';

/** Largest message whose jobID is read ahead of the job, to label its trace and logs. */
const TRACE_PEEK_MAX_BYTES = 1024 * 1024;

/** Tries of subscribe() while brokers still learn of a new topic (100 ms, 200 ms, … apart). */
const SUBSCRIBE_ATTEMPTS = 10;

/** Handled jobs whose outcome is not yet acknowledged, per partition, before the loop waits. */
const MAX_UNACKED_PER_PARTITION = 2_000;

export interface JobConsumerOptions {
  kafka: Kafka;
  topic: string;
  dlqTopic: string;
  resultsTopic: string;
  groupId: string;
  /** Identifies this worker in outcome events. */
  workerId: string;
  partitionsConcurrency: number;
  /** Jobs of one partition whose MCP work may overlap; 1 keeps strict order. */
  jobsPerPartition: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  commitIntervalMs: number;
  processor: JobProcessor;
  publisher: BatchingPublisher;
  metrics: WorkerMetrics;
  logger: Logger;
  /** The consumer crashed beyond kafkajs' own restarts; the process should exit. */
  onFatal?: (err: unknown) => void;
}

function isRebalanceError(err: unknown): boolean {
  const type = (err as { type?: string } | null)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}

export class JobConsumer {
  readonly #o: JobConsumerOptions;
  readonly #log: Logger;
  readonly #consumer: Consumer;
  /** Graceful stop: no new jobs, no more retry waits. */
  readonly #stopRetrying = new AbortController();
  /** Hard stop: abort MCP calls in flight. */
  readonly #abortCalls = new AbortController();
  #joined = false;
  #inFlight = 0;

  constructor(options: JobConsumerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'consumer' });
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      allowAutoTopicCreation: false,
      // kafkajs restarts a crashed consumer on a timer it arms AFTER its own disconnect, so a
      // crash racing close() (an in-flight fetch or commit failing while a broker is down)
      // would bring the consumer back after "kafka-worker stopped" and hold the process open
      // until the forced exit. Once stopping, a crash is final.
      retry: { restartOnFailure: async () => !this.#stopRetrying.signal.aborted },
    });
    const { GROUP_JOIN, REBALANCING, STOP, DISCONNECT, CRASH } = this.#consumer.events;
    this.#consumer.on(GROUP_JOIN, (e) => {
      this.#joined = true;
      this.#log.info(
        { assignment: e.payload.memberAssignment, memberId: e.payload.memberId },
        'joined consumer group',
      );
    });
    this.#consumer.on(REBALANCING, () => {
      this.#joined = false;
    });
    this.#consumer.on(STOP, () => {
      this.#joined = false;
    });
    this.#consumer.on(DISCONNECT, () => {
      this.#joined = false;
    });
    this.#consumer.on(CRASH, (e) => {
      this.#joined = false;
      const stopping = this.#stopRetrying.signal.aborted;
      this.#log[stopping ? 'warn' : 'error'](
        { err: errorMessage(e.payload.error), restart: e.payload.restart, stopping },
        'consumer crashed',
      );
      if (!e.payload.restart && !stopping) options.onFatal?.(e.payload.error);
    });
  }

  /** True while the consumer is a member of the group with an assignment. */
  get joined(): boolean {
    return this.#joined;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async start(): Promise<void> {
    await this.#consumer.connect();
    // A topic just created may not have reached the broker kafkajs asks (multi-node KRaft):
    // kafkajs' subscribe does not retry that answer, so it is retried here, bounded.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#consumer.subscribe({ topics: [this.#o.topic], fromBeginning: true });
        break;
      } catch (err) {
        if (
          (err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' ||
          attempt >= SUBSCRIBE_ATTEMPTS
        ) {
          throw err;
        }
        await sleep(100 * attempt);
      }
    }
    await this.#consumer.run({
      autoCommit: false,
      // Used by commitOffsetsIfNecessary() to commit handled offsets periodically mid-batch.
      autoCommitInterval: this.#o.commitIntervalMs,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#o.partitionsConcurrency,
      eachBatch: (payload) => this.#commitAfterHandled(payload),
    });
  }

  /**
   * Stops fetching, lets the jobs running MCP calls finish (retry waits end at once), commits
   * what was handled and leaves the group. After `hardDeadlineMs` calls still in flight are
   * aborted (their jobs stay uncommitted and are redelivered).
   */
  async close(hardDeadlineMs: number): Promise<void> {
    this.#stopRetrying.abort(new JobAbortedError('worker stopping'));
    const hard = setTimeout(() => {
      this.#log.warn({ inFlight: this.#inFlight }, 'shutdown deadline reached; aborting calls in flight');
      this.#abortCalls.abort(new JobAbortedError('shutdown deadline'));
      this.#o.publisher.abort();
    }, hardDeadlineMs);
    try {
      await this.#consumer.disconnect();
    } finally {
      clearTimeout(hard);
      this.#joined = false;
    }
  }

  async #commitAfterHandled(payload: EachBatchPayload): Promise<void> {
    const {
      batch,
      resolveOffset,
      heartbeat,
      commitOffsetsIfNecessary,
      uncommittedOffsets,
      isRunning,
      isStale,
    } = payload;
    const { topic, partition } = batch;
    const { processor, publisher, metrics } = this.#o;
    // Ends this batch's retry waits: on a rebalance (below) or when the worker stops.
    const stopPartition = new AbortController();
    const stopping = () => stopPartition.abort(this.#stopRetrying.signal.reason);
    if (this.#stopRetrying.signal.aborted) stopping();
    else this.#stopRetrying.signal.addEventListener('abort', stopping, { once: true });
    const signals = { call: this.#abortCalls.signal, wait: stopPartition.signal };
    let rebalance: unknown;
    let heartbeating = false;
    const ticker = setInterval(
      () => {
        if (heartbeating) return;
        heartbeating = true;
        heartbeat()
          .catch((err: unknown) => {
            if (isRebalanceError(err)) {
              rebalance ??= err;
              stopPartition.abort(new JobAbortedError('rebalance'));
            } else {
              this.#log.warn({ err: errorMessage(err), partition }, 'heartbeat failed');
            }
          })
          .finally(() => {
            heartbeating = false;
          });
      },
      Math.max(100, Math.floor(this.#o.heartbeatIntervalMs / 2)),
    );

    let acked: Promise<void> = Promise.resolve();
    let unacked = 0;
    let failure: unknown;
    let committing: Promise<void> | undefined;
    const commitPeriodically = () => {
      committing ??= commitOffsetsIfNecessary()
        .catch((err: unknown) =>
          this.#log.warn({ err: errorMessage(err), partition }, 'periodic commit failed'),
        )
        .finally(() => {
          committing = undefined;
        });
    };

    /** Runs one job; resolves once its MCP work is done, to the ack of its outcome records. */
    const runJob = async (message: KafkaMessage): Promise<{ ack: Promise<void> }> => {
      let outcome: JobOutcome;
      // One span per job, continuing the producer's trace; its logs and MCP calls carry it.
      const span = startJobSpan(
        message,
        { topic, partition, groupId: this.#o.groupId },
        peekJobIdentity(message.value, TRACE_PEEK_MAX_BYTES),
      );
      this.#inFlight++;
      metrics.inFlight.inc();
      try {
        outcome = await span.run(() => processor.process(message, { topic, partition }, signals));
      } catch (err) {
        span.end(undefined, err);
        throw err;
      } finally {
        this.#inFlight--;
        metrics.inFlight.dec();
      }
      span.run(() => this.#record(outcome));
      span.end({
        jobID: outcome.jobID,
        jobType: outcome.jobType,
        attempts: outcome.attempts,
        status: outcome.status,
        reason: outcome.status === 'failed' ? outcome.error.reason : undefined,
      });
      return { ack: publisher.publish(this.#outboundFor(outcome, message, partition)) };
    };

    // Jobs whose MCP work is under way (at most WORKER_JOBS_PER_PARTITION; 1 = strict order).
    const window = new Set<Promise<unknown>>();
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || stopPartition.signal.aborted || failure !== undefined) break;
        const processed = runJob(message);
        unacked++;
        // Offsets resolve strictly in offset order, each after its own outcome is acknowledged.
        acked = acked
          .then(() => processed)
          .then(({ ack }) => ack)
          .then(() => {
            resolveOffset(message.offset);
            unacked--;
            commitPeriodically();
          });
        acked.catch((err: unknown) => {
          failure ??= err;
        });
        const slot: Promise<unknown> = processed.then(
          () => window.delete(slot),
          () => window.delete(slot),
        );
        window.add(slot);
        if (window.size >= this.#o.jobsPerPartition) await Promise.race(window);
        if (unacked >= MAX_UNACKED_PER_PARTITION) await acked.catch(() => undefined);
      }
      await Promise.all(window);
      await acked.catch((err: unknown) => {
        if (!(err instanceof JobAbortedError)) {
          this.#log.warn({ err: errorMessage(err), partition }, 'job not handled; it will be redelivered');
        }
      });
      const commitMine = async () => {
        await committing;
        const mine = uncommittedOffsets()
          .topics.filter((t) => t.topic === topic)
          // kafkajs reports partitions here as object keys, i.e. strings.
          .flatMap((t) => t.partitions.filter((p) => Number(p.partition) === partition));
        if (mine.length > 0) await commitOffsetsIfNecessary({ topics: [{ topic, partitions: mine }] });
      };
      if (isRunning() && !isStale() && rebalance === undefined) {
        // The offsets are resolved, so the next fetch need not wait for the commit round trip.
        // Requests on the coordinator connection are handled in order, so a later LeaveGroup
        // cannot overtake this commit; if it fails, the next batch's commit covers it.
        commitMine().catch((err: unknown) =>
          this.#log.warn({ err: errorMessage(err), partition }, 'commit failed; retried with the next batch'),
        );
      } else {
        await commitMine();
      }
    } finally {
      clearInterval(ticker);
      this.#stopRetrying.signal.removeEventListener('abort', stopping);
    }
    if (rebalance !== undefined) throw rebalance;
    // A bug, not a job failure (those become outcomes): let kafkajs restart from the commit.
    if (
      failure !== undefined &&
      !(failure instanceof JobAbortedError) &&
      !(failure instanceof PublisherAbortedError)
    ) {
      throw failure;
    }
  }

  #record(outcome: JobOutcome): void {
    const { metrics, processor } = this.#o;
    const label = processor.jobTypeLabel(outcome.jobType);
    const result = outcome.status === 'succeeded' ? 'succeeded' : 'dead_lettered';
    metrics.jobs.inc({ job_type: label, outcome: result });
    metrics.jobDuration.observe({ job_type: label, outcome: result }, outcome.durationMs / 1000);
    if (outcome.status === 'succeeded') {
      const replayed = outcome.summary.replayed;
      outcome.logger.info(
        {
          attempts: outcome.attempts,
          durationMs: outcome.durationMs,
          ...(typeof replayed === 'boolean' && { replayed }),
        },
        'job succeeded',
      );
    } else {
      metrics.deadLetters.inc({ reason: outcome.error.reason });
      outcome.logger.warn(
        {
          attempts: outcome.attempts,
          durationMs: outcome.durationMs,
          reason: outcome.error.reason,
          err: outcome.error.message,
        },
        'job failed; dead-lettering',
      );
    }
  }

  #outboundFor(outcome: JobOutcome, message: KafkaMessage, partition: number): OutboundMessage[] {
    const { topic, dlqTopic, resultsTopic, workerId } = this.#o;
    const event: JobOutcomeEvent = {
      jobID: outcome.jobID ?? null,
      jobType: outcome.jobType ?? null,
      status: outcome.status,
      ...(outcome.status === 'succeeded'
        ? { result: outcome.summary }
        : {
            error: {
              class: outcome.error.name,
              reason: outcome.error.reason,
              message: outcome.error.message,
            },
          }),
      attempts: outcome.attempts,
      durationMs: outcome.durationMs,
      source: { topic, partition, offset: message.offset },
      finishedAt: new Date().toISOString(),
      worker: workerId,
    };
    const out: OutboundMessage[] = [];
    if (outcome.status === 'failed') {
      out.push({
        topic: dlqTopic,
        message: buildDeadLetterMessage({
          source: { topic, partition, message },
          error: outcome.error,
          attempts: outcome.attempts,
          jobID: outcome.jobID,
          jobType: outcome.jobType,
        }),
      });
    }
    out.push({ topic: resultsTopic, message: buildResultMessage(event, message.key) });
    return out;
  }
}
