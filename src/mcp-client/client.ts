/**
 * The worker's one MCP client: a single long-lived session to the MCP server, shared by every
 * partition's jobs — never a handshake per message. This module (with classify.ts) is the only
 * place the worker touches the MCP SDK, so a move to the SDK's v2 packages stays contained.
 *
 * Invariants:
 * - At most one live connection; concurrent callers share it and share one connect attempt.
 * - Streamable HTTP at `<server>/mcp` first; if the server answers that with 400/404/405 the
 *   legacy SSE transport at `<server>/sse` is used instead (`transport: 'auto'`).
 * - A connection that fails at the transport level (stream lost, refused, session unknown after
 *   a server restart) is dropped and rebuilt in the background with backoff, so `connected`
 *   (readiness) recovers when the server returns even while no job is running. The session's
 *   GET stream ending drops it at once (session-stream.ts), before a call can meet it.
 * - Replicas: given several server URLs (MCP_SERVER_URL=a,b), the session lives on one of them.
 *   When that replica stops answering (connection refused or reset, session gone), the next
 *   connect starts at the next replica and walks the list; a call that failed that way is sent
 *   once more on the new replica at once — safe because of the idempotency key below — so a
 *   replica's death costs a job neither an attempt nor a backoff wait.
 * - Every tools/call may carry an idempotency key in `_meta` (IDEMPOTENCY_META_KEY); the server
 *   answers a repeated key with the recorded result, so retries and redeliveries are safe.
 * - Errors leave here already classified (classify.ts); a tool error result (`isError: true`)
 *   becomes a ToolError (permanent).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { z } from 'zod';
import type { Logger } from '../observability/logger.ts';
import { withToolClientSpan } from '../observability/tracing.ts';
import { IDEMPOTENCY_META_KEY, REPLAYED_META_KEY, RETRYABLE_META_KEY } from '../protocol.ts';
import { type BackoffPolicy, backoffDelay } from '../retry/backoff.ts';
import {
  errorMessage,
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  ToolError,
  TransientError,
  type TransientReason,
} from '../retry/errors.ts';
import { VERSION } from '../version.ts';
import { AbortLinks } from './abort-links.ts';
import { classifyMcpError } from './classify.ts';
import { createHttpFetch } from './http-fetch.ts';
import { watchSessionStream } from './session-stream.ts';

/**
 * The level of server log messages (notifications/message) this client asks for: warnings and
 * errors still come; the info messages a call sends (a note created, a server spawned) do not.
 */
export const WORKER_CLIENT_LOG_LEVEL = 'warning';

/** Call failures that mean "this replica is gone": the call is resent on the next one. */
const REPLICA_DOWN_REASONS = new Set<TransientReason>([
  'server-unavailable',
  'connection-reset',
  'connection-closed',
]);

export type TransportKind = 'streamable-http' | 'sse';

export interface McpClientOptions {
  /**
   * Base URL of the server (`http://host:8080`; a trailing `/mcp` or `/sse` is accepted too), or
   * of each replica, in the order they are tried.
   */
  serverUrl: string | string[];
  /** Sent as `Authorization: Bearer <token>` on every request when set. */
  authToken?: string | undefined;
  /** Per-call timeout. */
  callTimeoutMs: number;
  /** Handshake timeout; defaults to min(callTimeoutMs, 10 s). */
  connectTimeoutMs?: number;
  transport?: 'auto' | TransportKind;
  logger: Logger;
  /** Delays between background reconnect attempts. */
  reconnect?: BackoffPolicy;
  onConnectionChange?: (connected: boolean) => void;
}

export interface CallOptions {
  /** Sent as `_meta[IDEMPOTENCY_META_KEY]`: a repeat of the key replays the recorded result. */
  idempotencyKey?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ToolCallResult {
  content: Array<Record<string, unknown>>;
  structuredContent?: Record<string, unknown>;
  /** The text blocks of `content`, joined. */
  text: string;
  /** The server answered from its idempotency record without running the tool again. */
  replayed: boolean;
}

/** One entry of a Claude-Desktop-style `mcpServers` map. */
export interface McpServerEntry {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  envFile?: string;
}

const serverInitializeResultSchema = z.looseObject({
  name: z.string(),
  status: z.enum(['ready', 'failed']),
  protocolVersion: z.string().optional(),
  serverInfo: z.looseObject({ name: z.string(), version: z.string() }).optional(),
  capabilities: z.record(z.string(), z.unknown()).optional(),
  tools: z.array(z.looseObject({ name: z.string(), description: z.string().optional() })),
  resources: z.array(z.looseObject({ uri: z.string(), name: z.string() })).optional(),
  prompts: z.array(z.looseObject({ name: z.string() })).optional(),
  durationMs: z.number(),
});

export type ServerInitializeResult = z.infer<typeof serverInitializeResultSchema> & { replayed: boolean };

/** What job handlers need from the MCP server; McpJobClient implements it. */
export interface McpToolCaller {
  callTool(name: string, args: Record<string, unknown>, options?: CallOptions): Promise<ToolCallResult>;
  callServerInitialize(
    server: { name: string; config: McpServerEntry },
    options?: CallOptions,
  ): Promise<ServerInitializeResult>;
}

interface Connection {
  id: number;
  kind: TransportKind;
  client: Client;
  transport: Transport;
}

export function mcpEndpoints(serverUrl: string): { streamable: URL; sse: URL } {
  const base = serverUrl.replace(/\/+$/, '').replace(/\/(mcp|sse)$/, '');
  return { streamable: new URL(`${base}/mcp`), sse: new URL(`${base}/sse`) };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ServerUnavailableError('server-unavailable', `${what} timed out after ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class McpJobClient implements McpToolCaller {
  readonly #options: McpClientOptions;
  readonly #log: Logger;
  /** One entry per replica; #current is the one the session lives on (or is tried next). */
  readonly #replicas: Array<{ streamable: URL; sse: URL }>;
  /** Each call's own abort signal, tied to the caller's long-lived one (abort-links.ts). */
  readonly #abortLinks = new AbortLinks();
  #current = 0;
  readonly #http = createHttpFetch();
  #connection: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #closed = false;
  #nextId = 1;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempt = 0;

  constructor(options: McpClientOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'mcp-client' });
    const urls = Array.isArray(options.serverUrl) ? options.serverUrl : [options.serverUrl];
    if (urls.length === 0) throw new Error('McpJobClient needs at least one server URL');
    this.#replicas = urls.map(mcpEndpoints);
  }

  get connected(): boolean {
    return this.#connection !== undefined;
  }

  get transportKind(): TransportKind | undefined {
    return this.#connection?.kind;
  }

  /** Connects in the background (retrying with backoff); never throws. */
  start(): void {
    this.#ensureConnected().catch(() => undefined);
  }

  /** Connects now, or throws a ServerUnavailableError. */
  async connect(): Promise<void> {
    await this.#ensureConnected();
  }

  /** One CLIENT span per call; `_meta` carries its trace context (traceparent) to the server. */
  callTool(name: string, args: Record<string, unknown>, options: CallOptions = {}): Promise<ToolCallResult> {
    return withToolClientSpan(name, (traceMeta) => this.#callTool(name, args, options, traceMeta));
  }

  async #callTool(
    name: string,
    args: Record<string, unknown>,
    options: CallOptions,
    traceMeta: Record<string, string>,
  ): Promise<ToolCallResult> {
    const meta = {
      ...traceMeta,
      ...(options.idempotencyKey !== undefined && { [IDEMPOTENCY_META_KEY]: options.idempotencyKey }),
    };
    const params = { name, arguments: args, ...(Object.keys(meta).length > 0 && { _meta: meta }) };
    for (let attempt = 0; ; attempt++) {
      if (options.signal?.aborted) throw new JobAbortedError('call aborted before it was sent');
      const conn = await this.#ensureConnected();
      // The SDK never removes the abort listener it adds to a request's signal, so it gets a
      // per-call signal; the caller's (long-lived) signal is linked to it only for the call.
      const perCall = this.#abortLinks.link(options.signal);
      let result: Awaited<ReturnType<Client['callTool']>>;
      try {
        result = await conn.client.callTool(params, undefined, {
          timeout: options.timeoutMs ?? this.#options.callTimeoutMs,
          signal: perCall.signal,
        });
      } catch (err) {
        if (options.signal?.aborted) throw new JobAbortedError('call aborted', { cause: err });
        const classified = classifyMcpError(err);
        if (classified.recycle) this.#drop(conn, classified.error.message);
        // The server restarted and forgot our session before running anything: reconnect, resend once.
        if (classified.sessionLost && attempt === 0) continue;
        // The replica stopped answering: resend on the next one (each replica once at most).
        if (this.#replicaDown(classified.error) && attempt < this.#replicas.length - 1) continue;
        throw classified.error;
      } finally {
        perCall.unlink();
      }
      return toToolCallResult(name, result);
    }
  }

  async callServerInitialize(
    server: { name: string; config: McpServerEntry },
    options: CallOptions = {},
  ): Promise<ServerInitializeResult> {
    const { command, args, env, envFile } = server.config;
    const config = {
      command,
      ...(args !== undefined && { args }),
      ...(env !== undefined && { env }),
      ...(envFile !== undefined && { envFile }),
    };
    const result = await this.callTool('server_initialize', { name: server.name, config }, options);
    const parsed = serverInitializeResultSchema.safeParse(result.structuredContent);
    if (!parsed.success) {
      throw new PermanentError(
        'protocol-error',
        `server_initialize returned an unexpected result: ${parsed.error.message}`,
      );
    }
    return { ...parsed.data, replayed: result.replayed };
  }

  /** Ends the session (DELETE for Streamable HTTP) and stops reconnecting. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    await this.#connecting?.catch(() => undefined);
    const conn = this.#connection;
    this.#connection = undefined;
    if (conn) {
      if (conn.transport instanceof StreamableHTTPClientTransport) {
        await withTimeout(conn.transport.terminateSession(), 1_000, 'session termination').catch(
          () => undefined,
        );
      }
      await conn.client.close().catch(() => undefined);
    }
    this.#http.close();
    if (conn) this.#options.onConnectionChange?.(false);
  }

  /**
   * A replica that does not answer, or dropped the connection mid-call (as opposed to one
   * refusing our credentials, or a store the replicas share being away).
   */
  #replicaDown(error: Error): boolean {
    return (
      this.#replicas.length > 1 && error instanceof TransientError && REPLICA_DOWN_REASONS.has(error.reason)
    );
  }

  #ensureConnected(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new JobAbortedError('MCP client is closed'));
    if (this.#connection) return Promise.resolve(this.#connection);
    this.#connecting ??= this.#open()
      .catch((err: unknown) => {
        this.#scheduleReconnect();
        throw err;
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  /** Connects to the current replica or, failing that, to each next one in turn. */
  async #open(): Promise<Connection> {
    let lastError: unknown;
    for (let tried = 0; tried < this.#replicas.length; tried++) {
      try {
        return await this.#openReplica(this.#replicas[this.#current]!);
      } catch (err) {
        if (err instanceof JobAbortedError) throw err;
        lastError = err;
        if (this.#replicas.length > 1) {
          this.#log.warn(
            { url: this.#replicas[this.#current]!.streamable.origin, err: errorMessage(err) },
            'MCP server replica not answering; trying the next one',
          );
          this.#current = (this.#current + 1) % this.#replicas.length;
        }
      }
    }
    throw lastError;
  }

  async #openReplica(endpoints: { streamable: URL; sse: URL }): Promise<Connection> {
    const preference = this.#options.transport ?? 'auto';
    let conn: Connection;
    if (preference === 'sse') {
      conn = await this.#connectWith('sse', endpoints);
    } else {
      try {
        conn = await this.#connectWith('streamable-http', endpoints);
      } catch (err) {
        const fallback =
          preference === 'auto' &&
          err instanceof StreamableHTTPError &&
          [400, 404, 405].includes(err.code ?? 0);
        if (!fallback) throw this.#unavailable(err);
        this.#log.info({ status: (err as StreamableHTTPError).code }, 'Streamable HTTP refused; trying SSE');
        try {
          conn = await this.#connectWith('sse', endpoints);
        } catch (sseErr) {
          throw this.#unavailable(sseErr);
        }
      }
    }
    if (this.#closed) {
      await conn.client.close().catch(() => undefined);
      throw new JobAbortedError('MCP client is closed');
    }
    this.#connection = conn;
    this.#reconnectAttempt = 0;
    this.#log.info(
      {
        transport: conn.kind,
        url: conn.kind === 'sse' ? endpoints.sse.href : endpoints.streamable.href,
      },
      'MCP client connected',
    );
    this.#options.onConnectionChange?.(true);
    return conn;
  }

  #unavailable(err: unknown): ServerUnavailableError {
    if (err instanceof ServerUnavailableError) return err;
    const classified = classifyMcpError(err);
    const message = classified.error.message || errorMessage(err);
    return new ServerUnavailableError(
      classified.error instanceof ServerUnavailableError ? classified.error.reason : 'server-unavailable',
      `cannot connect to MCP server: ${message}`,
      { cause: err },
    );
  }

  async #connectWith(kind: TransportKind, endpoints: { streamable: URL; sse: URL }): Promise<Connection> {
    const headers: Record<string, string> = {};
    if (this.#options.authToken) headers.authorization = `Bearer ${this.#options.authToken}`;
    const transport =
      kind === 'streamable-http'
        ? new StreamableHTTPClientTransport(endpoints.streamable, {
            requestInit: { headers },
            // The session's GET stream ending means the session is gone: drop at once (`conn`
            // exists by then — the stream opens after the handshake).
            fetch: watchSessionStream(this.#http.fetch, () =>
              this.#drop(conn, 'the server ended the session stream'),
            ),
            // We rebuild lost connections ourselves. One resume attempt, because the SDK v1
            // transport also "resumes" a POST stream that ended with an error response (it
            // counts only results as answers); the server answers that with 204 and nothing
            // happens. A stream that really ended without its answer fails that attempt and
            // reports "Maximum reconnection attempts", which drops the connection as before.
            reconnectionOptions: {
              maxRetries: 1,
              initialReconnectionDelay: 1_000,
              maxReconnectionDelay: 1_000,
              reconnectionDelayGrowFactor: 1,
            },
          })
        : new SSEClientTransport(endpoints.sse, { requestInit: { headers } });
    const client = new Client({ name: 'kafka-worker', version: VERSION }, { capabilities: {} });
    const conn: Connection = { id: this.#nextId++, kind, client, transport };
    client.onerror = (err) => {
      const classified = classifyMcpError(err);
      if (classified.recycle) this.#drop(conn, classified.error.message);
      else this.#log.debug({ err: errorMessage(err) }, 'MCP transport error');
    };
    client.onclose = () => this.#drop(conn, 'transport closed');
    const timeoutMs = this.#options.connectTimeoutMs ?? Math.min(this.#options.callTimeoutMs, 10_000);
    try {
      await withTimeout(client.connect(transport, { timeout: timeoutMs }), timeoutMs, 'MCP handshake');
      // Nobody reads the server's info-level log messages here, and each one turns the reply
      // of its call into an SSE stream, which costs this client more than the call itself.
      // Best effort: a server that refuses it still serves the calls.
      if (client.getServerCapabilities()?.logging) {
        await withTimeout(
          client.setLoggingLevel(WORKER_CLIENT_LOG_LEVEL, { timeout: timeoutMs }),
          timeoutMs,
          'MCP logging/setLevel',
        ).catch((err: unknown) =>
          this.#log.debug({ err: errorMessage(err) }, 'server refused logging/setLevel; continuing'),
        );
      }
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    return conn;
  }

  #drop(conn: Connection, reason: string): void {
    if (this.#connection !== conn) return;
    this.#connection = undefined;
    const url = this.#replicas[this.#current]!.streamable.origin;
    // With replicas, the next connect starts at the next one (this one may be gone for good).
    if (this.#replicas.length > 1) this.#current = (this.#current + 1) % this.#replicas.length;
    this.#log.warn({ reason, transport: conn.kind, url }, 'MCP connection lost; reconnecting');
    this.#options.onConnectionChange?.(false);
    conn.client.close().catch(() => undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined || this.#connection) return;
    const delay = backoffDelay(
      ++this.#reconnectAttempt,
      this.#options.reconnect ?? { initialMs: 250, maxMs: 10_000 },
    );
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      // A failure schedules the next attempt itself (see #ensureConnected).
      this.#ensureConnected().catch((err: unknown) => {
        this.#log.debug({ err: errorMessage(err), attempt: this.#reconnectAttempt }, 'MCP reconnect failed');
      });
    }, delay);
    this.#reconnectTimer.unref();
  }
}

function toToolCallResult(name: string, result: Record<string, unknown>): ToolCallResult {
  const content = Array.isArray(result.content) ? (result.content as Array<Record<string, unknown>>) : [];
  const text = content
    .filter((block) => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text as string)
    .join('\n');
  const meta = result._meta as Record<string, unknown> | undefined;
  if (result.isError === true) {
    // The server's own failure, not the tool's verdict: wait (store away) or retry (anything else).
    if (meta?.[RETRYABLE_META_KEY] === 'store-unavailable') {
      throw new ServerUnavailableError('store-unavailable', `tool '${name}': ${text}`);
    }
    if (meta?.[RETRYABLE_META_KEY] === 'server-error') {
      throw new TransientError('server-error', `tool '${name}' failed on the server: ${text}`);
    }
    throw new ToolError(name, text || 'tool error result without text');
  }
  const structured = result.structuredContent;
  return {
    content,
    ...(structured !== null &&
      typeof structured === 'object' && { structuredContent: structured as Record<string, unknown> }),
    text,
    replayed: meta?.[REPLAYED_META_KEY] === true,
  };
}
