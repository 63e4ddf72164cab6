/**
 * Turns one Kafka message into a job outcome: decode → resolve handler → run with retries.
 * What follows a failed try is decided by `decideRetry()` (src/retry/decide.ts), which
 * switches only on error types: permanent → outcome `failed` at once (the caller dead-letters
 * it); server unavailable → wait, attempts NOT consumed; anything else → retry with backoff
 * until WORKER_MAX_ATTEMPTS, then `failed` (`retries-exhausted`).
 * It never commits or publishes; it either returns an outcome or throws JobAbortedError when
 * told to stop (the job is then not handled and will be redelivered).
 */
import type { KafkaMessage } from 'kafkajs';
import type { McpToolCaller } from '../mcp-client/client.ts';
import type { Logger } from '../observability/logger.ts';
import { type BackoffPolicy, sleep } from '../retry/backoff.ts';
import { decideRetry, type RetryDecision, type RetryPolicy, type RetryState } from '../retry/decide.ts';
import { JobAbortedError, PermanentError } from '../retry/errors.ts';
import { type ReadJobMessage, readJobMessage } from './envelope.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { JobRegistry, JobSummary } from './registry.ts';

export interface JobProcessorDeps {
  registry: JobRegistry;
  client: McpToolCaller;
  logger: Logger;
  metrics: WorkerMetrics;
  maxAttempts: number;
  backoff: BackoffPolicy;
  maxMessageBytes: number;
}

export interface JobSource {
  topic: string;
  partition: number;
}

export interface JobSignals {
  /** Aborts calls in flight (hard stop). */
  call: AbortSignal;
  /** Ends backoff waits (graceful stop, rebalance); the job is then abandoned unhandled. */
  wait: AbortSignal;
}

interface OutcomeBase {
  jobID: string | undefined;
  jobType: string | undefined;
  /** Tries that reached the handler and counted against WORKER_MAX_ATTEMPTS. */
  attempts: number;
  durationMs: number;
  logger: Logger;
}

export type JobOutcome =
  | (OutcomeBase & { status: 'succeeded'; summary: JobSummary })
  | (OutcomeBase & { status: 'failed'; error: PermanentError });

export class JobProcessor {
  readonly #deps: JobProcessorDeps;

  constructor(deps: JobProcessorDeps) {
    this.#deps = deps;
  }

  /** The metrics label for a job type: known types by name, everything else `unknown`. */
  jobTypeLabel(jobType: string | undefined): string {
    return jobType !== undefined && this.#deps.registry.has(jobType) ? jobType : 'unknown';
  }

  /** Reads a message's value once; pass the result to `process` (the consumer names its span from it). */
  read(message: KafkaMessage): ReadJobMessage {
    return readJobMessage(message.value, this.#deps.maxMessageBytes);
  }

  async process(
    message: KafkaMessage,
    source: JobSource,
    signals: JobSignals,
    read: ReadJobMessage = this.read(message),
  ): Promise<JobOutcome> {
    const { registry, client, metrics, maxAttempts, backoff } = this.#deps;
    const retryPolicy: RetryPolicy = { maxAttempts, backoff };
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
    const base = { partition: source.partition, offset: message.offset };

    let resolved: ReturnType<JobRegistry['resolve']>;
    let jobID: string;
    let jobType: string;
    try {
      if (!read.ok) throw read.error;
      jobID = read.job.jobID;
      jobType = read.job.jobType;
      resolved = registry.resolve(read.job);
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      const identity = read.identity;
      return {
        status: 'failed',
        error: err,
        jobID: identity.jobID,
        jobType: identity.jobType,
        attempts: 0,
        durationMs: elapsed(),
        logger: this.#deps.logger.child({ ...base, ...identity }),
      };
    }

    const logger = this.#deps.logger.child({ jobID, jobType, ...base });
    const label = this.jobTypeLabel(jobType);
    let state: RetryState = { attempts: 0, unavailableWaits: 0 };
    for (;;) {
      if (signals.call.aborted || signals.wait.aborted)
        throw new JobAbortedError('stopped before the job finished');
      state = { ...state, attempts: state.attempts + 1 };
      const { attempts } = state;
      let decision: RetryDecision;
      try {
        const summary = await resolved.handler.run(resolved.payload, {
          jobID,
          jobType,
          attempt: attempts,
          client,
          logger,
          signal: signals.call,
        });
        return { status: 'succeeded', summary, jobID, jobType, attempts, durationMs: elapsed(), logger };
      } catch (err) {
        decision = decideRetry(err, state, retryPolicy, { aborted: signals.call.aborted });
      }
      if (decision.action === 'abort') throw decision.error;
      if (decision.action === 'fail') {
        return {
          status: 'failed',
          error: decision.error,
          jobID,
          jobType,
          attempts,
          durationMs: elapsed(),
          logger,
        };
      }
      const { error, delayMs } = decision;
      if (decision.action === 'wait') {
        logger.warn({ reason: error.reason, err: error.message, delayMs }, 'MCP server unavailable; waiting');
      } else {
        logger.warn(
          { reason: error.reason, err: error.message, attempt: attempts, delayMs },
          'transient failure; retrying',
        );
      }
      state = decision.next;
      metrics.retries.inc({ job_type: label, reason: error.reason });
      try {
        await sleep(delayMs, signals.call, signals.wait);
      } catch {
        throw new JobAbortedError('stopped while waiting to retry');
      }
    }
  }
}
