/**
 * Turns one Kafka message into a job outcome: decode → resolve handler → run with retries.
 * This is the retry policy, and it switches only on error types (errors.ts):
 * - PermanentError → outcome `failed` at once (the caller dead-letters it);
 * - ServerUnavailableError → wait with backoff for the server, attempts NOT consumed;
 * - any other error → retry with backoff until WORKER_MAX_ATTEMPTS, then `failed`
 *   (`retries-exhausted`).
 * It never commits or publishes; it either returns an outcome or throws JobAbortedError when
 * told to stop (the job is then not handled and will be redelivered).
 */
import type { KafkaMessage } from 'kafkajs';
import type { McpToolCaller } from '../mcp-client/client.ts';
import type { Logger } from '../observability/logger.ts';
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.ts';
import { decodeJobMessage, peekJobIdentity } from './envelope.ts';
import {
  asWorkerError,
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  type TransientError,
} from './errors.ts';
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

  async process(message: KafkaMessage, source: JobSource, signals: JobSignals): Promise<JobOutcome> {
    const { registry, client, metrics, maxAttempts, backoff, maxMessageBytes } = this.#deps;
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
    const base = { partition: source.partition, offset: message.offset };

    let resolved: ReturnType<JobRegistry['resolve']>;
    let jobID: string;
    let jobType: string;
    try {
      const job = decodeJobMessage(message.value, maxMessageBytes);
      jobID = job.jobID;
      jobType = job.jobType;
      resolved = registry.resolve(job);
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      const identity = peekJobIdentity(message.value, maxMessageBytes);
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
    let attempts = 0;
    let unavailableWaits = 0;
    for (;;) {
      if (signals.call.aborted || signals.wait.aborted)
        throw new JobAbortedError('stopped before the job finished');
      attempts++;
      let failure: PermanentError | TransientError;
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
        const classified = asWorkerError(err);
        if (classified instanceof JobAbortedError || signals.call.aborted) {
          throw classified instanceof JobAbortedError ? classified : new JobAbortedError('call aborted');
        }
        failure = classified;
      }
      if (failure instanceof PermanentError) {
        return { status: 'failed', error: failure, jobID, jobType, attempts, durationMs: elapsed(), logger };
      }
      let delay: number;
      if (failure instanceof ServerUnavailableError) {
        attempts--;
        delay = backoffDelay(++unavailableWaits, backoff);
        logger.warn(
          { reason: failure.reason, err: failure.message, delayMs: delay },
          'MCP server unavailable; waiting',
        );
      } else if (attempts >= maxAttempts) {
        const error = new PermanentError(
          'retries-exhausted',
          `gave up after ${attempts} attempts; last error (${failure.reason}): ${failure.message}`,
          { cause: failure },
        );
        return { status: 'failed', error, jobID, jobType, attempts, durationMs: elapsed(), logger };
      } else {
        unavailableWaits = 0;
        delay = backoffDelay(attempts, backoff);
        logger.warn(
          { reason: failure.reason, err: failure.message, attempt: attempts, delayMs: delay },
          'transient failure; retrying',
        );
      }
      metrics.retries.inc({ job_type: label, reason: failure.reason });
      try {
        await sleep(delay, signals.call, signals.wait);
      } catch {
        throw new JobAbortedError('stopped while waiting to retry');
      }
    }
  }
}
