/**
 * The reply format of each request of a Streamable HTTP session: plain JSON when only the
 * response will travel, an SSE stream when more comes with it.
 *
 * An SSE reply (a ReadableStream through the SDK's web-standard adaptor, a priming event and
 * the response as stored, resumable events) costs a quick call a good part of its CPU; a JSON
 * reply is one write. But a JSON reply cannot carry the request's notifications (a log message,
 * progress): the SDK drops them. So a request starts as JSON when it is quick and asked for no
 * progress, and is switched to an SSE stream — priming event first, so it is resumable like any
 * other — the moment a notification of its own is sent, before the response. The client sees
 * either a JSON reply or an SSE stream, both of which the Streamable HTTP transport allows.
 *
 * SSE from the start: `initialize` (the session's first stream hands out the retry interval),
 * batches, calls with a progress token, `server_initialize` calls (seconds of log messages that
 * must arrive while they happen, not at the end), and `tasks/result` (blocks until the task ends:
 * a dropped stream must be resumable).
 *
 * The SDK transport decides JSON or SSE with one flag per transport; concurrent requests of a
 * session need their own, so the flag reads this request's choice from an AsyncLocalStorage (the
 * SDK's request handling and the handler's sends run in the request's async context). The
 * switch to SSE re-creates what the SDK does for an SSE reply (sdk-internals.ts reads the parts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { installJsonReplies, serveJsonPost, sseReplyOf } from './json-post.ts';
import { type SdkReplyStream, type SdkStreamableInternals, streamableInternals } from './sdk-internals.ts';

interface ReplyChoice {
  /** True while the reply is still to be plain JSON. */
  json: boolean;
  protocolVersion: string;
  /** The switch to SSE, once made: every send of the request waits for its priming event. */
  switched?: Promise<void>;
}

const STREAMED_METHODS = new Set(['initialize', 'tasks/result']);
const STREAMED_TOOLS = new Set(['server_initialize']);

/** Whether a POST body may start as a plain JSON reply (see the module comment). */
export function startsAsJson(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { method, id, params } = body as { method?: unknown; id?: unknown; params?: Record<string, unknown> };
  if (typeof method !== 'string' || id === undefined || STREAMED_METHODS.has(method)) return false;
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (meta?.progressToken !== undefined) return false;
  return !(method === 'tools/call' && STREAMED_TOOLS.has(String(params?.name)));
}

export class ReplyFormats {
  readonly #choice = new AsyncLocalStorage<ReplyChoice>();

  /** Makes `transport` answer each request as `handle()` chose; call once, before connecting `server` to it. */
  install(transport: StreamableHTTPServerTransport, server: McpServer): void {
    installJsonReplies(transport, server);
    const web = streamableInternals(transport);
    Object.defineProperty(web, '_enableJsonResponse', {
      get: () => this.#choice.getStore()?.json ?? false,
      set: () => {},
      configurable: true,
    });
    const send = transport.send.bind(transport);
    transport.send = async (message, options) => {
      const choice = this.#choice.getStore();
      const requestId = options?.relatedRequestId;
      if (choice && requestId !== undefined && !isResponse(message)) {
        if (choice.json) choice.switched = switchToSse(web, requestId, choice);
        await choice.switched;
      }
      return send(message, options);
    };
  }

  /**
   * Hands the request to the transport with its reply format chosen: one that starts as JSON is
   * served on Node's request and response when the SDK would take it (json-post.ts).
   */
  handle(
    transport: StreamableHTTPServerTransport,
    req: Parameters<StreamableHTTPServerTransport['handleRequest']>[0],
    res: Parameters<StreamableHTTPServerTransport['handleRequest']>[1],
    body: unknown,
  ): Promise<void> {
    const header = req.headers['mcp-protocol-version'];
    const choice: ReplyChoice = {
      json: startsAsJson(body),
      protocolVersion: typeof header === 'string' ? header : DEFAULT_NEGOTIATED_PROTOCOL_VERSION,
    };
    return this.#choice.run(choice, () =>
      choice.json && serveJsonPost(transport, req, res, body)
        ? Promise.resolve()
        : transport.handleRequest(req, res, body),
    );
  }
}

function isResponse(message: JSONRPCMessage): boolean {
  return 'result' in message || 'error' in message;
}

/**
 * Replaces the request's pending JSON reply with an SSE stream, as the SDK builds one, and
 * writes its priming event. From here on the request's sends take the SDK's SSE path.
 */
async function switchToSse(
  web: SdkStreamableInternals,
  requestId: string | number,
  choice: ReplyChoice,
): Promise<void> {
  choice.json = false;
  const streamId = web._requestToStreamMapping.get(requestId);
  const pending = streamId === undefined ? undefined : web._streamMapping.get(streamId);
  if (streamId === undefined || !pending?.resolveJson) return;
  const headers: Record<string, string> = {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  };
  if (web.sessionId !== undefined) headers['mcp-session-id'] = web.sessionId;
  let keepAlive: NodeJS.Timeout | undefined;
  const cancel = () => {
    clearInterval(keepAlive);
    if (web._streamMapping.get(streamId)?.controller === controller) web._streamMapping.delete(streamId);
  };
  // A request json-post.ts serves writes its events to the Node response; any other gets a
  // ReadableStream, as the SDK makes one, for the SDK's adaptor to write.
  const controller = sseReplyOf(pending, headers, cancel) ?? webSseReply(pending, headers, cancel);
  const encoder = new TextEncoder();
  web._streamMapping.set(streamId, {
    controller,
    encoder,
    cleanup: () => {
      clearInterval(keepAlive);
      web._streamMapping.delete(streamId);
      try {
        controller.close();
      } catch {
        // Already closed.
      }
    },
  });
  await web.writePrimingEvent(controller, encoder, streamId, choice.protocolVersion);
  if (web._streamMapping.get(streamId)?.controller === controller) {
    keepAlive = web.startKeepAlive(controller, encoder);
  }
}

/** An SSE reply as the SDK makes one: a ReadableStream for its adaptor; returns the controller. */
function webSseReply(
  pending: SdkReplyStream,
  headers: Record<string, string>,
  cancel: () => void,
): ReadableStreamDefaultController<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel,
  });
  pending.resolveJson?.(new Response(readable, { status: 200, headers }));
  return controller;
}
