/**
 * The job-type registry: one map from `jobType` to the handler that runs it. A handler owns
 * its payload schema (zod) and its effect; the worker owns everything around it (decoding,
 * retries, dead-lettering, outcome events, commits). Adding a job type is writing one
 * handler and listing it in handlers/index.ts — see docs/worker.md, "Adding a job type".
 *
 * Handlers must be safe to run again for the same jobID (a redelivered job): pass an
 * idempotency key derived from `ctx.jobID` on every call with an effect.
 */
import type { z } from 'zod';
import type { McpToolCaller } from '../mcp-client/client.ts';
import type { Logger } from '../observability/logger.ts';
import { PermanentError } from '../retry/errors.ts';
import { formatZodIssues, type JobEnvelope } from './envelope.ts';

export interface JobContext {
  jobID: string;
  jobType: string;
  /** 1 for the first try. */
  attempt: number;
  client: McpToolCaller;
  /** Carries `jobID` on every line. */
  logger: Logger;
  /** Aborted when the worker stops working on the job (shutdown, rebalance). */
  signal: AbortSignal;
}

/** A small JSON summary of what the job did, published in its outcome event. */
export type JobSummary = Record<string, unknown>;

export interface JobHandler<P = unknown> {
  readonly jobType: string;
  /** One line for `kafka-worker --help` and the docs. */
  readonly description: string;
  readonly payloadSchema: z.ZodType<P>;
  /** Does the job's effect. Throw PermanentError to dead-letter, anything else to retry. */
  run(payload: P, ctx: JobContext): Promise<JobSummary>;
}

/** Identity function that lets TypeScript infer `P` from the schema. */
export function defineJobHandler<P>(handler: JobHandler<P>): JobHandler<P> {
  return handler;
}

export interface ResolvedJob {
  handler: JobHandler<unknown>;
  payload: unknown;
}

export class JobRegistry {
  readonly #handlers: ReadonlyMap<string, JobHandler<unknown>>;

  constructor(handlers: ReadonlyArray<JobHandler<unknown>>) {
    const map = new Map<string, JobHandler<unknown>>();
    for (const handler of handlers) {
      if (map.has(handler.jobType)) throw new Error(`job type '${handler.jobType}' registered twice`);
      map.set(handler.jobType, handler);
    }
    this.#handlers = map;
  }

  has(jobType: string): boolean {
    return this.#handlers.has(jobType);
  }

  get jobTypes(): string[] {
    return [...this.#handlers.keys()];
  }

  handlers(): JobHandler<unknown>[] {
    return [...this.#handlers.values()];
  }

  /** The handler for the job and its validated payload, or a PermanentError. */
  resolve(job: JobEnvelope): ResolvedJob {
    const handler = this.#handlers.get(job.jobType);
    if (!handler) {
      throw new PermanentError(
        'unknown-job-type',
        `unknown jobType '${job.jobType}' (known: ${this.jobTypes.join(', ')})`,
      );
    }
    const parsed = handler.payloadSchema.safeParse(job.payload);
    if (!parsed.success) {
      throw new PermanentError(
        'invalid-payload',
        `invalid payload for jobType '${job.jobType}': ${formatZodIssues(parsed.error)}`,
      );
    }
    return { handler, payload: parsed.data };
  }
}
