/**
 * The error vocabulary of the worker, its MCP client and its Kafka plumbing (shared, so it lives
 * below all three). An error's TYPE carries its retry decision (like BullMQ's
 * UnrecoverableError); the retry policy (decide.ts) switches on `instanceof`, never on message text.
 *
 * - PermanentError: retrying cannot help (bad JSON, schema violation, unknown job type,
 *   tool error result, retries exhausted). The job goes to the dead-letter topic and its
 *   offset is committed.
 * - TransientError: the job may succeed later (timeout, HTTP 5xx, connection reset). Retried
 *   with backoff; each retry consumes one of WORKER_MAX_ATTEMPTS.
 * - ServerUnavailableError (a TransientError): the MCP server could not be reached at all, so
 *   the job never ran. The worker waits for the server without consuming attempts, so an
 *   outage never turns queued jobs into dead letters.
 * - JobAbortedError: the worker stopped working on the job (shutdown, rebalance). The job is
 *   NOT handled: its offset stays uncommitted and it is redelivered.
 * Anything else thrown by a handler is treated as transient (a bug may be a passing one), so
 * it is retried and, once attempts are exhausted, dead-lettered rather than crash-looping.
 */

export type PermanentReason =
  | 'message-too-large'
  | 'invalid-json'
  | 'invalid-envelope'
  | 'unknown-job-type'
  | 'invalid-payload'
  | 'tool-error'
  | 'protocol-error'
  | 'retries-exhausted';

export class PermanentError extends Error {
  override name = 'PermanentError';
  readonly reason: PermanentReason;

  constructor(reason: PermanentReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** A tool answered with a tool error result (`isError: true`): the call ran and failed. */
export class ToolError extends PermanentError {
  override name = 'ToolError';
  readonly tool: string;

  constructor(tool: string, message: string) {
    super('tool-error', `tool '${tool}' returned an error: ${message}`);
    this.tool = tool;
  }
}

export type TransientReason =
  | 'timeout'
  | 'http-status'
  | 'connection-reset'
  | 'connection-closed'
  | 'server-unavailable'
  | 'store-unavailable'
  | 'server-error'
  | 'unauthorized'
  | 'internal-error'
  | 'unexpected';

export class TransientError extends Error {
  override name = 'TransientError';
  readonly reason: TransientReason;

  constructor(reason: TransientReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * The server could not be reached (refused, DNS, auth rejected, session gone before the call
 * ran), or answered that its notes store cannot be reached (`store-unavailable`).
 */
export class ServerUnavailableError extends TransientError {
  override name = 'ServerUnavailableError';
}

/** Work on a job stopped before it was handled (shutdown or rebalance); it will be redelivered. */
export class JobAbortedError extends Error {
  override name = 'JobAbortedError';
}

/** Normalises anything thrown by a handler into one of the worker's error types. */
export function asWorkerError(err: unknown): PermanentError | TransientError | JobAbortedError {
  if (err instanceof PermanentError || err instanceof TransientError || err instanceof JobAbortedError) {
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransientError('unexpected', message, { cause: err });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
