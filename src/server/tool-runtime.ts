/**
 * Wraps every tool handler with what all tools share: a child logger, metrics
 * (calls by outcome, duration), idempotent replay, and the request's channel back to the
 * client — log messages at the session's level and progress when the call asked for it.
 * A call whose client cancelled it is counted with outcome `cancelled` once the handler has
 * returned — for server_initialize, after its child is gone.
 * The runtime is shared by every session; `forSession` binds it to one session's log level.
 *
 * Idempotency (see idempotency.ts): a tools/call whose `_meta` carries IDEMPOTENCY_META_KEY has
 * its successful result recorded in the store under that key with a fingerprint of the
 * arguments; a repeat of the key with the same arguments returns the recorded result (marked
 * with REPLAYED_META_KEY) without running the tool again, with other arguments it is refused.
 * The tool's store writes and the record commit together (NotesStore#atomically).
 * Error results are not recorded (they had no effect), so a retry after a fix can still
 * succeed. Concurrent calls with one key in this process are serialised so the tool runs once:
 * a call that finds one in flight (from its arrival, before the store is asked) waits for it and
 * replays its success, or runs itself when it failed — one waiter, the others wait for that one.
 *
 * A handler that throws (the database went away mid-call, a bug) does not produce a plain tool
 * error — the SDK would turn it into one, and a caller would take it for the tool's verdict on
 * its input. It produces an error result marked RETRYABLE_META_KEY: `store-unavailable` when the
 * store does not answer a ping, `server-error` otherwise; the worker retries those.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ProgressToken,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/server-metrics.ts';
import { withToolServerSpan } from '../observability/tracing.ts';
import {
  IDEMPOTENCY_META_KEY,
  REPLAYED_META_KEY,
  RETRYABLE_META_KEY,
  type RetryableReason,
} from '../protocol.ts';
import { ClientLog, ClientLogLevel } from './client-log.ts';
import { requestFingerprint } from './idempotency.ts';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolContext {
  logger: Logger;
  signal: AbortSignal;
  /** Messages to the calling client (`notifications/message`). */
  clientLog: ClientLog;
  /** Reports progress to the client when the call carried a progressToken; a no-op otherwise. */
  progress(progress: number, total: number, message: string): void;
}

export type ToolHandler<A> = (args: A, ctx: ToolContext) => Promise<CallToolResult>;

/** What a tool registration needs: wrap a handler for one session. */
export interface ToolRuntime {
  instrument<A>(tool: string, handler: ToolHandler<A>): (args: A, extra: Extra) => Promise<CallToolResult>;
}

export interface ToolRuntimeDeps {
  store: Pick<NotesStore, 'getIdempotentResult' | 'recordIdempotentResult' | 'atomically' | 'ping'>;
  logger: Logger;
  metrics: ServerMetrics;
}

const MAX_KEY_LENGTH = 512;

/** A call's result, and whether it was replayed rather than run. */
interface Outcome {
  result: CallToolResult;
  replayed: boolean;
}

/** A keyed call under way: later calls with its key wait for its outcome. */
interface InFlightCall {
  fingerprint: string;
  outcome: Promise<Outcome>;
}

export function idempotencyKeyOf(extra: Extra): string | undefined {
  const value = extra._meta?.[IDEMPOTENCY_META_KEY];
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value.slice(0, MAX_KEY_LENGTH);
}

/** A tool error result: the call failed, the server keeps serving. */
export function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

export function createToolRuntime(deps: ToolRuntimeDeps) {
  const inFlight = new Map<string, InFlightCall>();

  const keyReused = (tool: string, key: string): Outcome => ({
    result: toolError(
      `Idempotency key '${key}' was already used for a different ${tool} request; ` +
        'a key names one request: use a new key for new arguments',
    ),
    replayed: false,
  });

  async function runOnce(
    tool: string,
    key: string,
    args: unknown,
    run: () => Promise<CallToolResult>,
    log: Logger,
  ): Promise<Outcome> {
    const storeKey = `${tool}:${key}`;
    const fingerprint = requestFingerprint(tool, args);
    let failed: InFlightCall | undefined;
    for (
      let pending = inFlight.get(storeKey);
      pending && pending !== failed;
      pending = inFlight.get(storeKey)
    ) {
      if (pending.fingerprint !== fingerprint) return keyReused(tool, key);
      const outcome = await pending.outcome.catch(() => undefined);
      if (outcome && !outcome.result.isError) return { result: markReplayed(outcome.result), replayed: true };
      // That attempt failed — or its caller cancelled it (a worker whose call timed out retries
      // while the cancelled attempt is still stopping). Errors are never replayed: run our own.
      failed = pending;
    }
    // In the map before the first await, so a call arriving meanwhile waits for this one.
    const call: InFlightCall = { fingerprint, outcome: recordedOrRun(tool, key, fingerprint, run, log) };
    inFlight.set(storeKey, call);
    try {
      return await call.outcome;
    } finally {
      // After a failure, a waiter may already have put its own call under the key.
      if (inFlight.get(storeKey) === call) inFlight.delete(storeKey);
    }
  }

  /** The result recorded under the key (if its arguments match), else the tool's, recorded on success. */
  async function recordedOrRun(
    tool: string,
    key: string,
    fingerprint: string,
    run: () => Promise<CallToolResult>,
    log: Logger,
  ): Promise<Outcome> {
    const storeKey = `${tool}:${key}`;
    const recorded = await deps.store.getIdempotentResult(storeKey);
    if (recorded) {
      // Records from before fingerprints were kept replay as they always did.
      if (recorded.fingerprint !== undefined && recorded.fingerprint !== fingerprint) {
        log.warn({ idempotencyKey: key }, 'idempotency key reused with different arguments; refused');
        return keyReused(tool, key);
      }
      log.info({ idempotencyKey: key }, 'replaying recorded result');
      return { result: markReplayed(recorded.result as CallToolResult), replayed: true };
    }
    const runAndRecord = async () => {
      const ran = await run();
      if (!ran.isError) await deps.store.recordIdempotentResult(storeKey, tool, ran, fingerprint);
      return ran;
    };
    // The effect and its record commit together (see NotesStore#atomically) — except for tools
    // that run for seconds: a transaction would hold a pooled connection for that long (and
    // while the call waits for a sandbox slot), starving every other request of the database.
    const result = OUTSIDE_TRANSACTION.has(tool)
      ? await runAndRecord()
      : await deps.store.atomically(runAndRecord);
    return { result, replayed: false };
  }

  /** Wraps `handler` with a trace span, logging, metrics, idempotent replay and the client channel. */
  function instrument<A>(
    tool: string,
    handler: ToolHandler<A>,
    level: ClientLogLevel,
  ): (args: A, extra: Extra) => Promise<CallToolResult> {
    const call = async (args: A, extra: Extra): Promise<CallToolResult> => {
      // A pino child serialises its bindings when made: made only for a call that logs.
      let child: Logger | undefined;
      const log = () => {
        child ??= deps.logger.child({ tool, sessionId: extra.sessionId, requestId: extra.requestId });
        return child;
      };
      const stop = deps.metrics.toolDuration.startTimer({ tool });
      const key = idempotencyKeyOf(extra);
      const run = () =>
        handler(args, {
          get logger() {
            return log();
          },
          signal: extra.signal,
          clientLog: new ClientLog(level, extra.sendNotification, tool),
          progress: progressReporter(extra),
        });
      try {
        const { result, replayed } = key
          ? await runOnce(tool, key, args, run, log())
          : { result: await run(), replayed: false };
        // A call its client cancelled (notifications/cancelled, or a stateless stream closing)
        // is counted apart: its error result never reaches anyone and says nothing of the tool.
        const outcome = replayed
          ? 'replayed'
          : extra.signal.aborted
            ? 'cancelled'
            : result.isError
              ? 'error'
              : 'success';
        deps.metrics.toolCalls.inc({ tool, outcome });
        if (deps.logger.isLevelEnabled('debug')) log().debug({ outcome }, 'tool call');
        return result;
      } catch (err) {
        deps.metrics.toolCalls.inc({ tool, outcome: 'error' });
        const reason: RetryableReason = (await deps.store.ping().then(
          () => false,
          () => true,
        ))
          ? 'store-unavailable'
          : 'server-error';
        log().error({ err, reason }, 'tool failed');
        return retryableError(reason, err instanceof Error ? err.message : String(err));
      } finally {
        stop();
      }
    };
    // The span continues the caller's trace (traceparent in `_meta`); the call's logs carry it.
    return (args, extra) =>
      withToolServerSpan(
        tool,
        extra._meta,
        { sessionId: extra.sessionId, requestId: String(extra.requestId) },
        () => call(args, extra),
      );
  }

  return {
    /** The runtime for one session, whose client log level is `level`. */
    forSession(level: ClientLogLevel = new ClientLogLevel()): ToolRuntime {
      return { instrument: (tool, handler) => instrument(tool, handler, level) };
    },
  };
}

/**
 * Tools whose call is not wrapped in one store transaction: server_initialize may take up to
 * MCP_INIT_TIMEOUT_MS (plus a wait for a slot), and its only store write is the catalog entry,
 * which a repeated run rewrites with the same content.
 */
const OUTSIDE_TRANSACTION: ReadonlySet<string> = new Set(['server_initialize']);

const noProgress = () => {};

function progressReporter(extra: Extra): ToolContext['progress'] {
  const token: ProgressToken | undefined = extra._meta?.progressToken;
  if (token === undefined) return noProgress;
  return (progress, total, message) => {
    extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress, total, message },
      })
      .catch(() => {
        // The client went away; progress goes with it.
      });
  };
}

function retryableError(reason: RetryableReason, message: string): CallToolResult {
  const text = reason === 'store-unavailable' ? `notes store unavailable: ${message}` : message;
  return { content: [{ type: 'text', text }], isError: true, _meta: { [RETRYABLE_META_KEY]: reason } };
}

function markReplayed(result: CallToolResult): CallToolResult {
  return { ...result, _meta: { ...(result._meta ?? {}), [REPLAYED_META_KEY]: true } };
}
