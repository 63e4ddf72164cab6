import { describe, expect, it } from 'vitest';
import { decideRetry, type RetryPolicy } from '../../src/retry/decide.ts';
import {
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  ToolError,
  TransientError,
} from '../../src/retry/errors.ts';

const policy: RetryPolicy = { maxAttempts: 3, backoff: { initialMs: 100, maxMs: 1_000 } };
/** random() = 0: the delay is exactly the fixed half of the ceiling. */
const fixed = { random: () => 0 };

describe('decideRetry', () => {
  it('fails at once on a permanent error, whatever is left of the attempts', () => {
    const error = new ToolError('save_note', 'bad');
    expect(decideRetry(error, { attempts: 1, unavailableWaits: 0 }, policy)).toEqual({
      action: 'fail',
      error,
    });
  });

  it('retries a transient error with exponential backoff, spending the attempt', () => {
    const error = new TransientError('timeout', 'slow');
    const first = decideRetry(error, { attempts: 1, unavailableWaits: 0 }, policy, fixed);
    expect(first).toMatchObject({ action: 'retry', error, delayMs: 50, next: { attempts: 1 } });
    const second = decideRetry(error, { attempts: 2, unavailableWaits: 0 }, policy, fixed);
    expect(second).toMatchObject({ action: 'retry', delayMs: 100, next: { attempts: 2 } });
  });

  it('turns the last transient failure into retries-exhausted, keeping the cause', () => {
    const error = new TransientError('http-status', 'HTTP 503');
    const decision = decideRetry(error, { attempts: 3, unavailableWaits: 0 }, policy);
    expect(decision.action).toBe('fail');
    const failed = decision as { error: PermanentError };
    expect(failed.error).toBeInstanceOf(PermanentError);
    expect(failed.error.reason).toBe('retries-exhausted');
    expect(failed.error.message).toContain('after 3 attempts');
    expect(failed.error.message).toContain('HTTP 503');
    expect(failed.error.cause).toBe(error);
  });

  it('waits for an unavailable server without spending attempts, backing off per wait', () => {
    const error = new ServerUnavailableError('server-unavailable', 'ECONNREFUSED');
    // Even at the last attempt: an outage never dead-letters a job.
    const first = decideRetry(error, { attempts: 3, unavailableWaits: 0 }, policy, fixed);
    expect(first).toMatchObject({ action: 'wait', delayMs: 50, next: { attempts: 2, unavailableWaits: 1 } });
    const later = decideRetry(error, { attempts: 3, unavailableWaits: 5 }, policy, fixed);
    expect(later).toMatchObject({ action: 'wait', delayMs: 500, next: { unavailableWaits: 6 } });
  });

  it('a transient failure after waits starts the wait count again', () => {
    const decision = decideRetry(
      new TransientError('timeout', 'x'),
      { attempts: 1, unavailableWaits: 4 },
      policy,
    );
    expect(decision).toMatchObject({ action: 'retry', next: { unavailableWaits: 0 } });
  });

  it('treats an unknown thrown value as transient', () => {
    const decision = decideRetry(new RangeError('oops'), { attempts: 1, unavailableWaits: 0 }, policy);
    expect(decision).toMatchObject({ action: 'retry', error: { reason: 'unexpected', message: 'oops' } });
  });

  it('abandons the job on JobAbortedError or when the call was aborted', () => {
    const aborted = new JobAbortedError('shutdown');
    expect(decideRetry(aborted, { attempts: 1, unavailableWaits: 0 }, policy)).toEqual({
      action: 'abort',
      error: aborted,
    });
    const cut = decideRetry(
      new TransientError('timeout', 'x'),
      { attempts: 1, unavailableWaits: 0 },
      policy,
      {
        aborted: true,
      },
    );
    expect(cut.action).toBe('abort');
    expect((cut as { error: unknown }).error).toBeInstanceOf(JobAbortedError);
  });
});
