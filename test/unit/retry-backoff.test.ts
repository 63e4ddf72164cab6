import { describe, expect, it } from 'vitest';
import { backoffDelay, sleep } from '../../src/retry/backoff.ts';

describe('backoff', () => {
  const policy = { initialMs: 100, maxMs: 1_000 };

  it('doubles per retry, with half of each delay fixed and half jittered', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 0.999999)).toBe(100);
    expect(backoffDelay(2, policy, () => 0)).toBe(100);
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
    expect(backoffDelay(4, policy, () => 1)).toBe(800);
  });

  it('is capped at maxMs and never overflows', () => {
    expect(backoffDelay(5, policy, () => 1)).toBe(1_000);
    expect(backoffDelay(10_000, policy, () => 1)).toBe(1_000);
    expect(backoffDelay(10_000, policy, () => 0)).toBe(500);
  });

  it('sleep ends early when its signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(10_000, controller.signal);
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
