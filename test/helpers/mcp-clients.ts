/**
 * Both generations of the official MCP client behind one small interface, so every protocol
 * test runs once with the v1 `Client` (@modelcontextprotocol/sdk) and once with the v2 client
 * package (@modelcontextprotocol/client), over Streamable HTTP or the legacy SSE transport.
 * Notifications are recorded; `waitFor` resolves when a matching one has arrived.
 */
import {
  SSEClientTransport as SseV2,
  StreamableHTTPClientTransport as StreamableV2,
  Client as V2Client,
} from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SseV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as StreamableV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

export type ClientGeneration = 'v1' | 'v2';
export type ClientTransport = 'streamable' | 'sse';

export const GENERATIONS: ClientGeneration[] = ['v1', 'v2'];

export interface Notification {
  method: string;
  params?: Record<string, unknown>;
}

/** The calls the protocol tests make; both SDK clients have them with these shapes. */
export interface ProtocolClient {
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
  readResource(params: { uri: string }): Promise<{ contents: Array<{ uri: string; text?: string }> }>;
  subscribeResource(params: { uri: string }): Promise<unknown>;
  unsubscribeResource(params: { uri: string }): Promise<unknown>;
  complete(params: {
    ref: { type: 'ref/resource'; uri: string } | { type: 'ref/prompt'; name: string };
    argument: { name: string; value: string };
  }): Promise<{ completion: { values: string[]; total?: number; hasMore?: boolean } }>;
  setLoggingLevel(level: 'debug' | 'info' | 'notice' | 'warning' | 'error'): Promise<unknown>;
  listPrompts(): Promise<{ prompts: Array<{ name: string; description?: string; arguments?: unknown[] }> }>;
  getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<{
    description?: string;
    messages: Array<{ role: string; content: Record<string, unknown> }>;
  }>;
  getServerCapabilities(): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

export interface ConnectedClient {
  generation: ClientGeneration;
  client: ProtocolClient;
  notifications: NotificationLog;
  sessionId(): string | undefined;
}

/** How long a test waits for a notification it expects before failing. */
export const NOTIFICATION_TIMEOUT_MS = 15_000;

export class NotificationLog {
  readonly received: Notification[] = [];
  readonly #waiters = new Set<() => void>();

  push(notification: Notification): void {
    this.received.push(notification);
    for (const wake of this.#waiters) wake();
  }

  of(method: string): Notification[] {
    return this.received.filter((n) => n.method === method);
  }

  /** Resolves with the first notification (from the start) matching `match`. */
  async waitFor(match: (n: Notification) => boolean, what: string): Promise<Notification> {
    let found: Notification | undefined;
    await this.until(() => {
      found = this.received.find(match);
      return found !== undefined;
    }, what);
    return found!;
  }

  /** Resolves once `check` holds, re-checking as notifications arrive. */
  async until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + NOTIFICATION_TIMEOUT_MS;
    for (;;) {
      if (check()) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${what} within ${NOTIFICATION_TIMEOUT_MS} ms; got ${JSON.stringify(this.received)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  updated(uri: string): Promise<Notification> {
    return this.waitFor(
      (n) => n.method === 'notifications/resources/updated' && n.params?.uri === uri,
      `resources/updated for ${uri}`,
    );
  }

  clear(): void {
    this.received.length = 0;
  }
}

const WATCHED = [
  ['notifications/resources/list_changed', ResourceListChangedNotificationSchema],
  ['notifications/resources/updated', ResourceUpdatedNotificationSchema],
  ['notifications/message', LoggingMessageNotificationSchema],
] as const;

export async function connectClient(
  generation: ClientGeneration,
  kind: ClientTransport,
  baseUrl: string,
  options: { fetch?: typeof fetch; name?: string } = {},
): Promise<ConnectedClient> {
  const notifications = new NotificationLog();
  const info = { name: options.name ?? `test-${generation}-${kind}`, version: '1.0.0' };
  const endpoint = new URL(`${baseUrl}/${kind === 'sse' ? 'sse' : 'mcp'}`);
  const transportOptions = options.fetch ? { fetch: options.fetch } : {};
  const { client, transport: t } = generation === 'v1' ? v1Client() : v2Client();
  await client.connect(t as never);
  return {
    generation,
    client: client as unknown as ProtocolClient,
    notifications,
    sessionId: () => (t as { sessionId?: string }).sessionId,
  };

  function v1Client() {
    const client = new V1Client(info);
    for (const [, schema] of WATCHED)
      client.setNotificationHandler(schema, (n) => notifications.push(n as Notification));
    const transport =
      kind === 'sse' ? new SseV1(endpoint, transportOptions) : new StreamableV1(endpoint, transportOptions);
    return { client, transport };
  }

  function v2Client() {
    const client = new V2Client(info);
    for (const [method] of WATCHED)
      client.setNotificationHandler(method, (n) => notifications.push(n as Notification));
    const transport =
      kind === 'sse' ? new SseV2(endpoint, transportOptions) : new StreamableV2(endpoint, transportOptions);
    return { client, transport };
  }
}

/** The JSON-RPC error code of a rejected call (v1 McpError, v2 ProtocolError). */
export async function errorOf(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: number; message?: string };
    return { code: e.code ?? Number.NaN, message: e.message ?? String(err) };
  }
  throw new Error('expected the call to fail with a JSON-RPC error');
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** tools/call with progress and cancellation (the two clients take these options differently). */
export function callToolWith(
  c: ConnectedClient,
  params: { name: string; arguments?: Record<string, unknown> },
  options: { onprogress?: (p: Progress) => void; signal?: AbortSignal },
): Promise<{ isError?: boolean; structuredContent?: Record<string, unknown>; content: unknown[] }> {
  const client = c.client as unknown as {
    callTool(params: unknown, a?: unknown, b?: unknown): Promise<never>;
  };
  return c.generation === 'v1'
    ? client.callTool(params, undefined, options)
    : client.callTool(params, options);
}

/** A JSON-RPC message as it crossed the wire. */
export type WireMessage = {
  id?: string | number;
  method?: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
};

export interface WireRecorder {
  /** Give this to connectClient: requests and responses pass through unchanged. */
  fetch: typeof fetch;
  /** Every JSON-RPC message the client sent (POST bodies). */
  sent(): WireMessage[];
  /** Every JSON-RPC message the server sent, on any response (SSE `data:` lines or JSON bodies). */
  received(): WireMessage[];
}

/**
 * Records what a client and the server put on the wire, beneath the SDK: what a client does with
 * a message (drop a progress notification for a token it does not know, say) cannot hide it.
 * Each response body is teed — the client reads one branch, the recorder the other.
 */
export function wireRecorder(): WireRecorder {
  const requests: string[] = [];
  const bodies: string[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    if (typeof init?.body === 'string') requests.push(init.body);
    const res = await fetch(input, init);
    if (!res.body) return res;
    const [forClient, forRecord] = res.body.tee();
    const index = bodies.push('') - 1;
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of forRecord) bodies[index] += decoder.decode(chunk, { stream: true });
    })().catch(() => {
      // The stream was closed under us (client closed, session ended): what came is kept.
    });
    return new Response(forClient, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  const parse = (text: string): WireMessage[] => {
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        return [JSON.parse(trimmed)].flat();
      } catch {
        return []; // a JSON body still arriving
      }
    }
    // SSE: only whole events (ended by a blank line); the last piece may still be arriving.
    return text
      .split('\n\n')
      .slice(0, -1)
      .flatMap((event) => event.split('\n').filter((line) => line.startsWith('data: ')))
      .filter((line) => line.length > 'data: '.length)
      .flatMap((line) => [JSON.parse(line.slice('data: '.length)) as WireMessage].flat());
  };
  return {
    fetch: recordingFetch,
    sent: () => requests.flatMap(parse),
    received: () => bodies.flatMap(parse),
  };
}
