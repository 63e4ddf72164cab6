/**
 * The one place that reads McpServer's private state (SDK v1). The SDK keeps its registered
 * tools and its request-handler map private; unknown-tool.ts (which tools exist) and
 * tasks/augment.ts (a task tool's input schema) read the tools, and both wrap handlers of the
 * map (wrapRequestHandler: the unknown-tool guard, the task-augmented tools/call and tools/list).
 * reply-format.ts and json-post.ts read the Streamable HTTP transport's state and stream maps
 * (streamableInternals); json-post.ts hands requests to the server's dispatch (requestDispatch);
 * stateless-servers.ts lets an idle server go of its transport (detachIdleTransport).
 * Reading them here keeps the casts, and the checks that they are still where they were, in one
 * spot: a future SDK that moves them fails here, at server or session construction (except
 * detachIdleTransport, which runs after a reply and answers false instead).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AnySchema } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { JSONRPCMessage, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';

/** Protocol's dispatch of one incoming request (what its transport.onmessage calls for a request). */
export type SdkRequestDispatch = (
  request: JSONRPCRequest,
  extra: { authInfo?: unknown; requestInfo: SdkRequestInfo },
) => void;

/**
 * The server's Protocol dispatch of an incoming request (`_onrequest`), bound. Protocol.connect's
 * onmessage tells a message's kind by trying the response, error and request schemas in turn
 * (three zod parses, two of them failing, for every request); a caller that already knows the
 * message is a valid request can hand it here directly.
 */
export function requestDispatch(server: McpServer): SdkRequestDispatch {
  const protocol = server.server as unknown as { _onrequest?: unknown };
  if (typeof protocol._onrequest !== 'function') {
    throw new Error('the SDK no longer exposes Protocol._onrequest as expected');
  }
  return (protocol._onrequest as SdkRequestDispatch).bind(protocol);
}

/**
 * Lets go of a server's transport without closing it, when the server has nothing in flight:
 * no request handler running, no request of its own awaiting a response, no progress handler,
 * no timeout, no debounced notification waiting to be sent. Returns false (and changes nothing)
 * otherwise. After it the server connects to a new transport as after close() — which the SDK
 * supports — without close()'s per-call cost (`_onclose` builds an McpError, stack and all, to
 * reject response handlers there are none of).
 */
export function detachIdleTransport(server: McpServer): boolean {
  const protocol = server.server as unknown as Record<string, unknown>;
  // What Protocol._onclose clears: each must be empty for nothing to be lost or misdirected.
  const pending = [
    protocol._requestHandlerAbortControllers,
    protocol._responseHandlers,
    protocol._progressHandlers,
    protocol._timeoutInfo,
    protocol._taskProgressTokens,
    protocol._pendingDebouncedNotifications,
  ];
  // Called when a reply has gone out, not at construction: an SDK that moved these gets false
  // (the server is then simply not reused), and test/unit/stateless-servers.test.ts fails.
  if (!('_transport' in protocol) || !pending.every((c) => c instanceof Map || c instanceof Set))
    return false;
  if (protocol._transport === undefined || pending.some((c) => (c as Map<unknown, unknown>).size > 0)) {
    return false;
  }
  protocol._transport = undefined;
  return true;
}

/** The part of a registered tool this project reads. */
export type RegisteredTools = Record<string, { inputSchema?: AnySchema }>;

/** McpServer's registry of tools, live (tools registered later appear in it). */
export function registeredTools(server: McpServer): RegisteredTools {
  const tools = (server as unknown as { _registeredTools?: RegisteredTools })._registeredTools;
  if (!tools || typeof tools !== 'object') {
    throw new Error('the SDK no longer exposes McpServer._registeredTools as expected');
  }
  return tools;
}

/** A request handler as the SDK's Protocol stores it: the raw request, before schema parsing. */
export type RawRequestHandler = (
  request: { params?: Record<string, unknown> },
  extra: unknown,
) => Promise<unknown>;

/** The low-level Server's handler map (method → handler), live: replacing an entry takes effect. */
export function requestHandlers(server: McpServer): Map<string, RawRequestHandler> {
  const handlers = (server.server as unknown as { _requestHandlers?: unknown })._requestHandlers;
  if (!(handlers instanceof Map)) {
    throw new Error('the SDK no longer exposes Server._requestHandlers as expected');
  }
  return handlers as Map<string, RawRequestHandler>;
}

/**
 * Puts `wrap(handler)` in place of the handler the server has for `method` (call it after the
 * handler is installed, e.g. after the first registerTool for tools/*). The wrapper sees the
 * raw request, in front of the SDK's own parsing and validation of it.
 */
export function wrapRequestHandler(
  server: McpServer,
  method: string,
  wrap: (handler: RawRequestHandler) => RawRequestHandler,
): void {
  const handlers = requestHandlers(server);
  const handler = handlers.get(method);
  if (!handler) throw new Error(`no ${method} handler to wrap (install it first)`);
  handlers.set(method, wrap(handler));
}

type SseEncoder = InstanceType<typeof TextEncoder>;

/** What the SDK hands a request's handlers as `extra.requestInfo`. */
export interface SdkRequestInfo {
  headers: Record<string, string | string[] | undefined>;
  url?: URL;
}

/** A stream of the web-standard Streamable HTTP transport: a pending JSON reply or an SSE stream. */
export interface SdkReplyStream {
  resolveJson?: (response: Response) => void;
  controller?: ReadableStreamDefaultController<Uint8Array>;
  encoder?: SseEncoder;
  cleanup: () => void;
}

/** The parts of the SDK's WebStandardStreamableHTTPServerTransport that reply-format.ts and json-post.ts use. */
export interface SdkStreamableInternals {
  sessionId: string | undefined;
  sessionIdGenerator: (() => string) | undefined;
  _closed: boolean;
  _initialized: boolean;
  _hasHandledRequest: boolean;
  _enableJsonResponse: boolean;
  _enableDnsRebindingProtection: boolean;
  onmessage?: (message: JSONRPCMessage, extra: { authInfo?: unknown; requestInfo: SdkRequestInfo }) => void;
  _requestToStreamMapping: Map<string | number, string>;
  _streamMapping: Map<string, SdkReplyStream>;
  writePrimingEvent(
    controller: ReadableStreamDefaultController<Uint8Array>,
    encoder: SseEncoder,
    streamId: string,
    protocolVersion: string,
  ): Promise<void>;
  startKeepAlive(
    controller: ReadableStreamDefaultController<Uint8Array>,
    encoder: SseEncoder,
  ): NodeJS.Timeout | undefined;
}

/**
 * The web-standard transport inside the SDK's Node StreamableHTTPServerTransport, with the
 * private members reply-format.ts and json-post.ts rely on checked to be where SDK 1.32 has them.
 */
export function streamableInternals(transport: object): SdkStreamableInternals {
  const web = (transport as { _webStandardTransport?: Record<string, unknown> })._webStandardTransport;
  if (
    !web ||
    !('_enableJsonResponse' in web) ||
    typeof web._closed !== 'boolean' ||
    typeof web._initialized !== 'boolean' ||
    typeof web._hasHandledRequest !== 'boolean' ||
    typeof web._enableDnsRebindingProtection !== 'boolean' ||
    !('sessionIdGenerator' in web) ||
    !(web._requestToStreamMapping instanceof Map) ||
    !(web._streamMapping instanceof Map) ||
    typeof web.writePrimingEvent !== 'function' ||
    typeof web.startKeepAlive !== 'function'
  ) {
    throw new Error('the SDK no longer exposes StreamableHTTPServerTransport internals as expected');
  }
  return web as unknown as SdkStreamableInternals;
}
