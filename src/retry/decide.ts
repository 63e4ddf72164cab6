/**
 * The retry decision for one failed try of a job, as a pure function (in the spirit of
 * BullMQ's `shouldRetryJob`): given what was thrown and what has been spent so far, say what
 * happens next. It switches on the error's TYPE only (errors.ts), never on its message:
 *
 * - JobAbortedError (or a try cut off by the caller's abort) → `abort`: the job is not
 *   handled; it stays uncommitted and is redelivered.
 * - PermanentError → `fail` at once (the caller dead-letters it).
 * - ServerUnavailableError → `wait` with backoff; the try did not reach the server, so it
 *   gives back its attempt (an outage never turns queued jobs into dead letters).
 * - any other error (a TransientError, or anything unexpected) → `retry` with backoff until
 *   `maxAttempts` tries were spent, then `fail` with `retries-exhausted`.
 *
 * Nothing here sleeps, logs or counts: the caller does that with the decision.
 */
import { type BackoffPolicy, backoffDelay } from './backoff.ts';
import {
  asWorkerError,
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  type TransientError,
} from './errors.ts';

export interface RetryPolicy {
  /** Tries that reach the handler, in all, before a transient failure becomes permanent. */
  maxAttempts: number;
  backoff: BackoffPolicy;
}

/** What has been spent on the job so far, including the try that just failed. */
export interface RetryState {
  /** Tries counted against maxAttempts, the failed one included. */
  attempts: number;
  /** Consecutive waits for an unavailable server before this failure. */
  unavailableWaits: number;
}

export type RetryDecision =
  | { action: 'abort'; error: JobAbortedError }
  | { action: 'fail'; error: PermanentError }
  | {
      action: 'retry' | 'wait';
      /** The cause, for logs and the retries metric. */
      error: TransientError;
      delayMs: number;
      /** The state to carry into the next try. */
      next: RetryState;
    };

export function decideRetry(
  thrown: unknown,
  state: RetryState,
  policy: RetryPolicy,
  options: { aborted?: boolean; random?: () => number } = {},
): RetryDecision {
  const error = asWorkerError(thrown);
  if (error instanceof JobAbortedError) return { action: 'abort', error };
  if (options.aborted)
    return { action: 'abort', error: new JobAbortedError('call aborted', { cause: error }) };
  if (error instanceof PermanentError) return { action: 'fail', error };
  if (error instanceof ServerUnavailableError) {
    const unavailableWaits = state.unavailableWaits + 1;
    return {
      action: 'wait',
      error,
      delayMs: backoffDelay(unavailableWaits, policy.backoff, options.random),
      next: { attempts: state.attempts - 1, unavailableWaits },
    };
  }
  if (state.attempts >= policy.maxAttempts) {
    return {
      action: 'fail',
      error: new PermanentError(
        'retries-exhausted',
        `gave up after ${state.attempts} attempts; last error (${error.reason}): ${error.message}`,
        { cause: error },
      ),
    };
  }
  return {
    action: 'retry',
    error,
    delayMs: backoffDelay(state.attempts, policy.backoff, options.random),
    next: { attempts: state.attempts, unavailableWaits: 0 },
  };
}
