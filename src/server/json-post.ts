/**
 * A Streamable HTTP POST answered in plain JSON, served on Node's own request and response.
 *
 * The SDK's Node transport turns every request into a web Request and every reply back out of a
 * web Response through @hono/node-server's adaptor (a new request listener per request). For a
 * call answered in JSON that is a large share of the transport's cost and buys nothing here: the
 * body is already parsed and the reply is one string. SDK v1's JSON replies also leak
 * (typescript-sdk#2559): the transport never removes a JSON reply's entry from its stream map, so
 * a session grows by one entry per request until it closes — the worker keeps one session for
 * as long as it runs — and a request still in flight when its session closes is never answered.
 *
 * `serveJsonPost` takes a request only when the SDK would accept it as it stands and answer it in
 * JSON: one JSON-RPC request (not `initialize`) on an open, initialized session (or a fresh
 * stateless transport), with the Accept, Content-Type, Mcp-Session-Id and Mcp-Protocol-Version
 * headers the SDK requires. It registers the request in the transport's maps exactly as the SDK
 * does and hands it to the server's dispatch of requests — where the transport's `onmessage` sends a
 * message once three zod parses have told it is a request — so the server handles it as any other.
 * Anything else — and every request the SDK would refuse — returns false and goes to the SDK's
 * transport unchanged, so its answers and errors stay the SDK's.
 *
 * `installJsonReplies` makes the transport's `send` write such a request's response straight to
 * the Node response and remove both map entries. A reply that becomes an SSE stream first
 * (reply-format.ts, `sseReplyOf`) gets its events written to the Node response as the SDK sends
 * them. When the session closes before the response, the request is answered 404 "session
 * closed" instead of being left hanging.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import {
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  type JSONRPCRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import {
  requestDispatch,
  type SdkRequestDispatch,
  type SdkStreamableInternals,
  streamableInternals,
} from './sdk-internals.ts';

/**
 * Where a transport's requests go: the server's dispatch, when nothing else listens to the
 * transport's messages (see installJsonReplies).
 */
const dispatchers = new WeakMap<SdkStreamableInternals, SdkRequestDispatch>();

/** A Host and a request path @hono/node-server (the SDK's adaptor) uses as they are (its url.ts). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;
const PLAIN_PATH = /^\/[!#$&-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;

/** The last Host header a URL was made of: a server is nearly always called by one name. */
let lastHost: string | undefined;

/** The answer to a request whose session closed before its response was sent. */
const SESSION_CLOSED = JSON.stringify({
  jsonrpc: '2.0',
  error: { code: -32001, message: 'Session not found: it closed before this request was answered' },
  id: null,
});

/**
 * The pending reply of one request, kept where the SDK keeps its own (the transport's stream
 * map), with the two members the SDK calls on such an entry: `resolveJson` (a Response, when
 * the SDK or reply-format.ts answers it) and `cleanup` (the transport closes).
 */
class NodeJsonReply {
  readonly res: ServerResponse;
  readonly sessionId: string | undefined;
  #done = false;

  constructor(res: ServerResponse, sessionId: string | undefined) {
    this.res = res;
    this.sessionId = sessionId;
  }

  /** Writes the response as the SDK's JSON reply would be written: one JSON document. */
  answer(message: JSONRPCMessage): void {
    this.#end(200, JSON.stringify(message), this.sessionId);
  }

  /** Ends the reply with one JSON document, once; nothing when the client is gone. */
  #end(status: number, json: string, sessionId?: string): void {
    if (this.#done) return;
    this.#done = true;
    const { res } = this;
    if (res.headersSent || res.destroyed) return;
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    if (sessionId !== undefined) res.setHeader('mcp-session-id', sessionId);
    res.end(json);
  }

  /**
   * The member by which the SDK (and reply-format.ts) know a pending JSON reply. The SDK's own
   * JSON reply never reaches it (`installJsonReplies` answers first) and a switch to SSE takes
   * `stream()`; were a Response to arrive, it is the SDK's JSON document.
   */
  readonly resolveJson = (response: Response): void => {
    response.text().then(
      (json) => this.#end(response.status, json, this.sessionId),
      // A body that cannot be read cannot be answered: drop the connection, as a failed
      // stream would (an unhandled rejection would end the process).
      () => this.res.destroy(),
    );
  };

  /**
   * Turns the reply into an SSE stream (reply-format.ts): writes the head now and returns the
   * sink the SDK writes events to in place of a ReadableStream's controller. `onCancel` runs
   * once if the client goes away first, as a ReadableStream's cancel would.
   */
  stream(headers: Record<string, string>, onCancel: () => void): ReadableStreamDefaultController<Uint8Array> {
    this.#done = true;
    const sink = new NodeSseSink(this.res);
    const { res } = this;
    if (res.headersSent || res.destroyed) {
      sink.closed = true;
      queueMicrotask(onCancel);
    } else {
      sink.batch();
      res.writeHead(200, headers);
      res.flushHeaders();
      res.once('close', () => {
        if (sink.closed) return;
        sink.closed = true;
        onCancel();
      });
    }
    return sink as unknown as ReadableStreamDefaultController<Uint8Array>;
  }

  /** The transport closed (session deleted, idle, shutdown) before the response. */
  readonly cleanup = (): void => {
    this.#end(404, SESSION_CLOSED);
  };
}

/**
 * What the SDK calls on an SSE stream's controller (enqueue, close), writing to the Node response
 * as it comes: no web stream between the SDK's events and the socket. What is written in one turn
 * of the event loop leaves in one write (the head, the priming event and the log message that
 * switched the reply; later the response and the end of the stream) instead of one each. Like a
 * closed controller, it throws once the stream is closed; the SDK catches that.
 */
class NodeSseSink {
  closed = false;
  readonly #res: ServerResponse;
  #corked = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  /**
   * Holds this turn's writes back until the event loop moves on, then sends them together. The
   * socket is corked, not the response: on Node 24 a corked ServerResponse drops chunked writes
   * made before its end() (only the first reaches the client).
   */
  batch(): void {
    const { socket } = this.#res;
    if (this.#corked || !socket) return;
    this.#corked = true;
    socket.cork();
    setImmediate(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  enqueue(chunk: Uint8Array): void {
    if (this.closed) throw new TypeError('the SSE reply is closed');
    this.batch();
    this.#res.write(chunk);
  }

  close(): void {
    if (this.closed) throw new TypeError('the SSE reply is closed');
    this.closed = true;
    this.batch();
    this.#res.end();
  }
}

/** Node's request as Express hands it on (with the bearer token's auth info, when there is one). */
type NodeRequest = IncomingMessage & { auth?: unknown };

/**
 * Serves `body` on Node's request and response when the SDK would take it as it stands and answer
 * it in JSON (see the module comment); returns false, having done nothing, otherwise.
 * `transport` must have had `installJsonReplies`.
 */
export function serveJsonPost(
  transport: StreamableHTTPServerTransport,
  req: NodeRequest,
  res: ServerResponse,
  body: unknown,
): boolean {
  const web = streamableInternals(transport);
  if (!acceptsAsJson(web, req, body)) return false;
  const dispatch = dispatchers.get(web);
  if (!dispatch || !web.onmessage) return false;
  // The SDK's own check of the message. What passes it with a method and an id is a request;
  // `initialize` (whatever its params) is left to the SDK.
  const parsed = JSONRPCMessageSchema.safeParse(body);
  if (!parsed.success || !('method' in parsed.data && 'id' in parsed.data)) return false;
  const request = parsed.data as JSONRPCRequest;
  if (request.method === 'initialize') return false;
  // The SDK's adaptor makes the request's URL of the Host header and the path, and refuses the
  // request when it cannot; take only what it takes without a second look (the rest, e.g. an
  // upper-case Host or an absolute-form target, goes its way). Handlers get the URL when they ask.
  const { host } = req.headers;
  const path = req.url ?? '';
  if (host === undefined || !PLAIN_HOST.test(host) || !PLAIN_PATH.test(path) || DOT_SEGMENT.test(path)) {
    return false;
  }
  if (host !== lastHost) {
    if (!URL.canParse(`http://${host}`)) return false;
    lastHost = host;
  }
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  let url: URL | undefined;
  const requestInfo = {
    headers: req.headers,
    get url(): URL {
      url ??= new URL(`${scheme}://${host}${path}`);
      return url;
    },
  };

  web._hasHandledRequest = true;
  const streamId = randomUUID();
  web._streamMapping.set(streamId, new NodeJsonReply(res, web.sessionId));
  web._requestToStreamMapping.set(request.id, streamId);
  try {
    dispatch(request, { authInfo: req.auth, requestInfo });
  } catch (err) {
    // Nothing will answer it now: forget it, and let the route answer the error.
    web._requestToStreamMapping.delete(request.id);
    web._streamMapping.delete(streamId);
    throw err;
  }
  return true;
}

/** Everything the SDK checks of a POST before it reads the message, as the SDK checks it. */
function acceptsAsJson(web: SdkStreamableInternals, req: NodeRequest, body: unknown): boolean {
  if (web._closed || !web._enableJsonResponse || web._enableDnsRebindingProtection) return false;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { headers } = req;
  if (web.sessionIdGenerator === undefined) {
    // Stateless: one request per transport.
    if (web._hasHandledRequest) return false;
  } else if (!web._initialized || headers['mcp-session-id'] !== web.sessionId) {
    return false;
  }
  const accept = headers.accept;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return false;
  if (!isJsonContentType(headers['content-type'])) return false;
  const version = headers['mcp-protocol-version'];
  return (
    version === undefined || (typeof version === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(version))
  );
}

/**
 * Makes `transport.send` write the response of a request `serveJsonPost` took straight to its
 * Node response and forget the request; every other message goes to the SDK's `send`, after
 * which the stream entry of a JSON reply the SDK completed is forgotten too (the SDK leaves it).
 * Call once, before `server.connect(transport)`; requests `serveJsonPost` takes go to `server`'s
 * dispatch directly.
 */
export function installJsonReplies(transport: StreamableHTTPServerTransport, server: McpServer): void {
  const web = streamableInternals(transport);
  // Protocol.connect keeps an onmessage set before it and calls it first: then every message
  // must still go that way, and none is served here.
  if (!web.onmessage) dispatchers.set(web, requestDispatch(server));
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if ('id' in message && message.id !== undefined && ('result' in message || 'error' in message)) {
      const streamId = web._requestToStreamMapping.get(message.id);
      const reply = streamId === undefined ? undefined : web._streamMapping.get(streamId);
      if (reply instanceof NodeJsonReply && streamId !== undefined) {
        web._requestToStreamMapping.delete(message.id);
        web._streamMapping.delete(streamId);
        reply.answer(message);
        return Promise.resolve();
      }
      if (reply?.resolveJson && streamId !== undefined) {
        // A JSON reply the SDK writes itself (a request not taken here): once it has all its
        // responses the SDK forgets the request ids but not the stream (typescript-sdk#2559).
        const { id } = message;
        return send(message, options).then(() => {
          if (!web._requestToStreamMapping.has(id) && web._streamMapping.get(streamId) === reply) {
            web._streamMapping.delete(streamId);
          }
        });
      }
    }
    return send(message, options);
  };
}

/**
 * The sink of an SSE reply written straight to the Node response, when `pending` is the pending
 * JSON reply of a request `serveJsonPost` took (see NodeJsonReply.stream); undefined otherwise.
 */
export function sseReplyOf(
  pending: unknown,
  headers: Record<string, string>,
  onCancel: () => void,
): ReadableStreamDefaultController<Uint8Array> | undefined {
  return pending instanceof NodeJsonReply ? pending.stream(headers, onCancel) : undefined;
}
