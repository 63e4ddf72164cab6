/**
 * The consumer loop: commitAfterHandled, built from three small parts — a heartbeat ticker
 * (heartbeat-ticker.ts), a concurrency window by key (key-window.ts) and an in-order offset
 * tracker (offset-tracker.ts).
 *
 * Invariants:
 * - An offset is resolved (and so may be committed) only after its job is HANDLED: it
 *   succeeded, or its dead letter was acknowledged by the broker — and in both cases its
 *   outcome event was acknowledged too. Jobs may finish in any order, but the resolved offset
 *   only advances over handled offsets: it stops at the lowest unhandled one, so the committed
 *   offset never passes an unhandled job. A crash before the commit means redelivery, never
 *   loss; the server's idempotency keys make the redelivery harmless.
 * - Partitions are processed concurrently (WORKER_PARTITIONS_CONCURRENCY). Within a partition
 *   the ordering mode (WORKER_ORDERING) decides which jobs overlap: `key` (default) — same key
 *   in offset order, different keys concurrently; `partition` — one at a time in offset order;
 *   `unordered`. At most WORKER_JOBS_PER_PARTITION jobs of a partition are in the window. The
 *   Kafka side is pipelined: while a job's outcome is being published, the next one runs.
 * - A poison message never blocks its partition: decoding and permanent failures are
 *   dead-lettered at once.
 * - Heartbeats continue while jobs run or wait to retry, so a long outage does not get the
 *   worker thrown out of the group (and there is no crash loop: nothing throws on a failing job).
 * - On a rebalance or stop, jobs waiting to retry or waiting in the window are abandoned (not
 *   handled, not committed); jobs running an MCP call finish, handled offsets are committed,
 *   then control returns to kafkajs.
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
import { HeartbeatTicker } from './heartbeat-ticker.ts';
import { KeyWindow, type OrderingMode } from './key-window.ts';
import type { WorkerMetrics } from './metrics.ts';
import { InOrderOffsets } from './offset-tracker.ts';
import type { JobOutcome, JobProcessor, JobSignals } from './process-job.ts';

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
  /** Which jobs of one partition may overlap (see key-window.ts). */
  ordering: OrderingMode;
  /** Jobs of one partition in the window at once (running or waiting behind their key). */
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

export class JobConsumer {
  readonly #o: JobConsumerOptions;
  readonly #log: Logger;
  readonly #consumer: Consumer;
  /** Graceful stop: no new jobs, no more retry waits. */
  readonly #stopRetrying = new AbortController();
  /** Hard stop: abort MCP calls in flight. */
  readonly #abortCalls = new AbortController();
  #joined = false;
  #restartUnderWay = false;
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
      this.#restartUnderWay = false;
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
      if (e.payload.restart) this.#restartUnderWay = true;
    });
  }

  /**
   * True once kafkajs has scheduled a restart after a crash, until the consumer joins again.
   * kafkajs cannot cancel a restart whose start() has begun (it retries connecting to the
   * cluster on its own timers): after close(), such a consumer may keep the process alive.
   */
  get restartUnderWay(): boolean {
    return this.#restartUnderWay;
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
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    // Ends this batch's retry waits: on a rebalance or when the worker stops.
    const stopPartition = new AbortController();
    const stopping = () => stopPartition.abort(this.#stopRetrying.signal.reason);
    if (this.#stopRetrying.signal.aborted) stopping();
    else this.#stopRetrying.signal.addEventListener('abort', stopping, { once: true });
    const signals: JobSignals = { call: this.#abortCalls.signal, wait: stopPartition.signal };
    const ticker = new HeartbeatTicker({
      heartbeat,
      intervalMs: Math.max(100, Math.floor(this.#o.heartbeatIntervalMs / 2)),
      onRebalance: () => stopPartition.abort(new JobAbortedError('rebalance')),
      onError: (err) => this.#log.warn({ err: errorMessage(err), partition }, 'heartbeat failed'),
    });
    const window = new KeyWindow({ mode: this.#o.ordering, maxInFlight: this.#o.jobsPerPartition });
    const offsets = new InOrderOffsets();
    const commits = new BatchCommits(payload, this.#log);
    /** Each job's path from admission to its resolved offset; settles, never rejects. */
    const handling: Promise<void>[] = [];
    let failure: unknown;
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || stopPartition.signal.aborted || failure !== undefined) break;
        offsets.add(message.offset);
        const job = await window.admit(message.key, () => this.#runJob(message, partition, signals));
        handling.push(
          job.done
            .then(({ ack }) => ack)
            .then(
              () => {
                const upTo = offsets.handled(message.offset);
                if (upTo !== undefined) {
                  resolveOffset(upTo);
                  commits.periodically();
                }
              },
              (err: unknown) => {
                offsets.failed(message.offset);
                failure ??= err;
              },
            ),
        );
        await offsets.whenBelow(MAX_UNACKED_PER_PARTITION);
      }
      await window.drained();
      await Promise.all(handling);
      if (failure !== undefined && !(failure instanceof JobAbortedError)) {
        this.#log.warn({ err: errorMessage(failure), partition }, 'job not handled; it will be redelivered');
      }
      if (isRunning() && !isStale() && ticker.rebalance === undefined) {
        // The offsets are resolved, so the next fetch need not wait for the commit round trip.
        // Requests on the coordinator connection are handled in order, so a later LeaveGroup
        // cannot overtake this commit; if it fails, the next batch's commit covers it.
        commits
          .partition(topic, partition)
          .catch((err: unknown) =>
            this.#log.warn(
              { err: errorMessage(err), partition },
              'commit failed; retried with the next batch',
            ),
          );
      } else {
        await commits.partition(topic, partition);
      }
    } finally {
      ticker.stop();
      this.#stopRetrying.signal.removeEventListener('abort', stopping);
    }
    if (ticker.rebalance !== undefined) throw ticker.rebalance;
    // A bug, not a job failure (those become outcomes): let kafkajs restart from the commit.
    if (
      failure !== undefined &&
      !(failure instanceof JobAbortedError) &&
      !(failure instanceof PublisherAbortedError)
    ) {
      throw failure;
    }
  }

  /** Runs one job; resolves once its MCP work is done, to the ack of its outcome records. */
  async #runJob(
    message: KafkaMessage,
    partition: number,
    signals: JobSignals,
  ): Promise<{ ack: Promise<void> }> {
    const { topic, processor, publisher, metrics } = this.#o;
    // One span per job, continuing the producer's trace; its logs and MCP calls carry it.
    const read = processor.read(message);
    const span = startJobSpan(message, { topic, partition, groupId: this.#o.groupId }, read.identity);
    let outcome: JobOutcome;
    this.#inFlight++;
    metrics.inFlight.inc();
    try {
      outcome = await span.run(() => processor.process(message, { topic, partition }, signals, read));
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

/**
 * Commits of one batch: a periodic commit of the resolved offsets while jobs are handled (at most
 * one in flight; kafkajs applies WORKER_COMMIT_INTERVAL_MS), and the final commit of this
 * batch's partition only (other partitions' batches commit their own).
 */
class BatchCommits {
  readonly #payload: EachBatchPayload;
  readonly #log: Logger;
  #committing: Promise<void> | undefined;

  constructor(payload: EachBatchPayload, log: Logger) {
    this.#payload = payload;
    this.#log = log;
  }

  periodically(): void {
    this.#committing ??= this.#payload
      .commitOffsetsIfNecessary()
      .catch((err: unknown) =>
        this.#log.warn(
          { err: errorMessage(err), partition: this.#payload.batch.partition },
          'periodic commit failed',
        ),
      )
      .finally(() => {
        this.#committing = undefined;
      });
  }

  async partition(topic: string, partition: number): Promise<void> {
    await this.#committing;
    const mine = this.#payload
      .uncommittedOffsets()
      .topics.filter((t) => t.topic === topic)
      // kafkajs reports partitions here as object keys, i.e. strings.
      .flatMap((t) => t.partitions.filter((p) => Number(p.partition) === partition));
    if (mine.length > 0) {
      await this.#payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: mine }] });
    }
  }
}
