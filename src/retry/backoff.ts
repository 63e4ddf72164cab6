/**
 * Retry delays: exponential with "equal jitter" (half fixed, half random), capped. The fixed
 * half guarantees a minimum pause; the random half spreads the retries of many workers so a
 * recovering MCP server is not hit by all of them at once.
 */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before retry number `retry` (1 = the first retry). `random` returns [0, 1). */
export function backoffDelay(
  retry: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/**
 * Resolves after `ms`, or rejects with the reason of the first of `signals` to abort. Listeners
 * are removed again either way, so long-lived signals do not collect them.
 */
export function sleep(ms: number, ...signals: Array<AbortSignal | undefined>): Promise<void> {
  const active = signals.filter((s): s is AbortSignal => s !== undefined);
  return new Promise((resolve, reject) => {
    const aborted = active.find((s) => s.aborted);
    if (aborted) {
      reject(aborted.reason);
      return;
    }
    const cleanup = () => {
      clearTimeout(timer);
      for (const s of active) s.removeEventListener('abort', onAbort);
    };
    function onAbort(this: AbortSignal) {
      cleanup();
      reject(this.reason);
    }
    const timer = setTimeout(() => {
      cleanup();
      resolve();
    }, ms);
    for (const s of active) s.addEventListener('abort', onAbort, { once: true });
  });
}
