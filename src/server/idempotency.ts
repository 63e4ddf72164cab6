/**
 * Idempotency keys, the way payment APIs treat them: a key names one request. The first
 * successful result is recorded with a fingerprint of the request (tool + arguments); a
 * repeat of the key with the same request replays that result, a repeat with a different
 * request is refused. Records live `MCP_IDEMPOTENCY_TTL` (default 7 days): the server prunes
 * older ones on a timer, after which a repeat of the key runs the tool again as a new request.
 */
import { createHash } from 'node:crypto';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';

/** JSON with object keys sorted, so equal arguments give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The fingerprint of one tool request. */
export function requestFingerprint(tool: string, args: unknown): string {
  return createHash('sha256').update(tool).update('\0').update(canonicalJson(args)).digest('hex');
}

/** How often pruning runs at most: hourly, or more often for a short TTL. */
const MAX_PRUNE_INTERVAL_MS = 60 * 60_000;

export interface PruningDeps {
  store: Pick<NotesStore, 'pruneIdempotentResults'>;
  ttlMs: number;
  logger: Logger;
  /** Default: min(ttl / 4, 1 hour), at least 1 s. */
  intervalMs?: number;
  now?: () => number;
}

/** Prunes now, then on an unref'd timer; `stop()` ends the timer and awaits a run in progress. */
export function startIdempotencyPruning(deps: PruningDeps): {
  stop(): Promise<void>;
  runOnce(): Promise<number>;
} {
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? Math.max(1_000, Math.min(deps.ttlMs / 4, MAX_PRUNE_INTERVAL_MS));
  let running: Promise<number> = Promise.resolve(0);
  let stopped = false;
  const runOnce = () => {
    running = running.then(async () => {
      if (stopped) return 0;
      try {
        const removed = await deps.store.pruneIdempotentResults(new Date(now() - deps.ttlMs));
        if (removed > 0) deps.logger.info({ removed, ttlMs: deps.ttlMs }, 'pruned idempotency records');
        return removed;
      } catch (err) {
        deps.logger.warn({ err }, 'pruning idempotency records failed; will retry');
        return 0;
      }
    });
    return running;
  };
  void runOnce();
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running;
      stopped = true;
    },
  };
}
