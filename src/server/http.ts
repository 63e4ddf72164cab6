/**
 * The Express app: maps routes to MCP transports and nothing more.
 *   POST/GET/DELETE /mcp       Streamable HTTP (stateful sessions, or stateless per request)
 *   GET /sse, POST /message    legacy HTTP+SSE transport
 *   GET /health, /ready        liveness, readiness (store reachable)
 *   GET /metrics               Prometheus text format
 * MCP routes sit behind the Host/Origin guard and the optional bearer token; JSON bodies are
 * size-limited. Sessions live in a SessionRegistry that frees them on disconnect, idle or
 * shutdown.
 */
import { randomUUID } from 'node:crypto';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/server-metrics.ts';
import { SessionEventStore } from './event-store.ts';
import { jsonBody } from './json-body.ts';
import { installJsonReplies, serveJsonPost } from './json-post.ts';
import type { NotesServerFactory } from './notes-server.ts';
import { ReplyFormats } from './reply-format.ts';
import { bearerAuth, type HostOriginPolicy, hostOriginGuard, jsonRpcError } from './security.ts';
import { SessionRegistry } from './sessions.ts';
import { awaitStandaloneStream, standaloneStreamRequested } from './standalone-stream.ts';
import { StatelessServers } from './stateless-servers.ts';
import { useLightweightWebGlobals } from './web-globals.ts';

export interface HttpAppDeps {
  serverFactory: NotesServerFactory;
  store: Pick<NotesStore, 'ping'>;
  logger: Logger;
  metrics: ServerMetrics;
  options: {
    stateless: boolean;
    authToken: string | undefined;
    hostPolicy: HostOriginPolicy;
    bodyLimit: string;
    sessionIdleMs: number;
    maxSessions: number;
    /** Resumable streams for stateful sessions (SSE event ids, replay on Last-Event-ID). */
    eventStore?: { maxBytes: number; maxEvents: number; retryMs: number };
  };
}

export interface HttpApp {
  app: express.Express;
  sessions: SessionRegistry<StreamableHTTPServerTransport | SSEServerTransport>;
  /** Closes every open session. */
  closeSessions(): Promise<void>;
}

/** True when a JSON-RPC message (or one of a batch) carries a progressToken. */
export function asksForProgress(body: unknown): boolean {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return messages.some((m) => {
    const meta = (m as { params?: { _meta?: { progressToken?: unknown } } } | null)?.params?._meta;
    return meta?.progressToken !== undefined;
  });
}

const KNOWN_ROUTES = new Set(['/mcp', '/sse', '/message', '/health', '/ready', '/metrics']);

/**
 * A request's `res.locals`: its child logger, made on first use (a pino child serialises its
 * bindings), through a getter the class's requests share. With the getter defined on each
 * request's `res.locals` instead (`Object.defineProperty` with a closure over the middleware's
 * scope), every request's objects survived the young-generation GC under load: each scavenge
 * copied ~13 MB and paused ~20 ms, against ~3 KB and ~1 ms this way (`--trace-gc-nvp`, 50
 * connections on the 404 path), and the old generation filled with them between full GCs.
 */
class RequestLocals {
  readonly #logger: Logger;
  readonly #requestId: string;
  #log: Logger | undefined;

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.#requestId = requestId;
  }

  get log(): Logger {
    this.#log ??= this.#logger.child({ requestId: this.#requestId });
    return this.#log;
  }
}

export function createHttpApp(deps: HttpAppDeps): HttpApp {
  const { serverFactory, logger, metrics, options } = deps;
  // Every Streamable HTTP reply is a web Response: keep it cheap to write (web-globals.ts).
  useLightweightWebGlobals();
  const sessions = new SessionRegistry<StreamableHTTPServerTransport | SSEServerTransport>({
    idleMs: options.sessionIdleMs,
    logger,
    metrics,
  });

  /** Plain JSON or SSE, per request of a session (reply-format.ts). */
  const replies = new ReplyFormats();
  /** The event store of each resumable session's transport. */
  const eventStores = new WeakMap<StreamableHTTPServerTransport, SessionEventStore>();

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  // Request id, access log and HTTP metrics.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    res.locals = new RequestLocals(logger, requestId);
    const route = KNOWN_ROUTES.has(req.path) ? req.path : 'other';
    const stop = metrics.httpDuration.startTimer({ route, method: req.method });
    res.on('close', () => {
      stop();
      const status = res.headersSent ? res.statusCode : 499;
      metrics.httpRequests.inc({ route, method: req.method, status: String(status) });
      const level = status >= 500 ? 'warn' : 'debug';
      if (logger.isLevelEnabled(level))
        res.locals.log[level]({ method: req.method, route, status }, 'request');
    });
    next();
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/ready', async (_req, res) => {
    try {
      await deps.store.ping();
      res.json({ status: 'ready' });
    } catch (err) {
      res.locals.log.warn({ err }, 'not ready: store unreachable');
      res.status(503).json({ status: 'unavailable', reason: 'notes store unreachable' });
    }
  });

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  const guard = [hostOriginGuard(options.hostPolicy), bearerAuth(options.authToken)];
  const json = jsonBody({ limit: options.bodyLimit });

  const tooManySessions = (res: Response) => {
    res.setHeader('Retry-After', '5');
    jsonRpcError(res, 503, -32000, `Too many sessions (limit ${options.maxSessions}); retry later`);
  };

  // --- Streamable HTTP -------------------------------------------------------------------
  if (options.stateless) {
    const statelessServers = new StatelessServers(serverFactory);
    app.post('/mcp', guard, json, async (req: Request, res: Response) => {
      const { method: rawMethod } = (req.body ?? {}) as { method?: unknown };
      const method = typeof rawMethod === 'string' ? rawMethod : undefined;
      const server = statelessServers.take(method);
      // Plain JSON unless the call asked for progress, the one thing a stateless request's tool
      // streams back (it sends no log messages): an SSE stream costs the reply a good deal more.
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: !asksForProgress(req.body),
      });
      installJsonReplies(transport, server);
      let servedJson = false;
      res.on('close', () => {
        // A JSON reply written in full leaves nothing to stop: its handler has returned, the
        // transport holds no stream and the server started no work that outlives the request
        // (standalone-stream.ts), so the server is kept for another request or, like the
        // transport, left to the garbage collector (stateless-servers.ts). Closing them cost ~5%
        // of such a call (the SDK builds an McpError, stack and all, on every close). Anything
        // else — the client went away mid-call, an SSE reply — is closed, which aborts a
        // handler still running.
        if (servedJson && res.writableFinished) {
          statelessServers.release(method, server);
          return;
        }
        void transport.close();
        void server.close();
      });
      try {
        await server.connect(transport);
        // A JSON reply is written on Node's response; anything else goes through the SDK's adaptor.
        servedJson = serveJsonPost(transport, req, res, req.body);
        if (!servedJson) await transport.handleRequest(req, res, req.body);
      } catch (err) {
        res.locals.log.error({ err }, 'error handling MCP request');
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
      }
    });
    const notAllowed = (_req: Request, res: Response) => {
      res.setHeader('Allow', 'POST');
      jsonRpcError(res, 405, -32000, 'Method not allowed: this server is stateless (MCP_STATELESS=true)');
    };
    app.get('/mcp', guard, notAllowed);
    app.delete('/mcp', guard, notAllowed);
  } else {
    app.post('/mcp', guard, json, async (req: Request, res: Response) => {
      const sessionId = req.headers['mcp-session-id'];
      try {
        if (typeof sessionId === 'string') {
          const entry = sessions.get(sessionId, 'streamable-http');
          if (!entry) {
            jsonRpcError(res, 404, -32001, 'Session not found: start a new session with initialize');
            return;
          }
          await replies.handle(entry.transport as StreamableHTTPServerTransport, req, res, req.body);
          return;
        }
        if (!isInitializeRequest(req.body)) {
          jsonRpcError(
            res,
            400,
            -32000,
            'Bad Request: no Mcp-Session-Id header and not an initialize request',
          );
          return;
        }
        if (sessions.size >= options.maxSessions) {
          tooManySessions(res);
          return;
        }
        const server = serverFactory();
        const eventStore = options.eventStore && new SessionEventStore(options.eventStore);
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          ...(eventStore && { eventStore, retryInterval: options.eventStore?.retryMs }),
          onsessioninitialized: (id) => {
            sessions.add({
              id,
              kind: 'streamable-http',
              transport,
              lastActivity: Date.now(),
              close: async () => {
                await transport.close();
                await server.close();
              },
            });
          },
        });
        if (eventStore) eventStores.set(transport, eventStore);
        awaitStandaloneStream(transport);
        transport.onclose = () => {
          if (transport.sessionId) void sessions.remove(transport.sessionId, 'client');
        };
        replies.install(transport, server);
        await server.connect(transport);
        await replies.handle(transport, req, res, req.body);
      } catch (err) {
        res.locals.log.error({ err }, 'error handling MCP request');
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
      }
    });

    const existingSession = async (req: Request, res: Response) => {
      const sessionId = req.headers['mcp-session-id'];
      const entry = typeof sessionId === 'string' ? sessions.get(sessionId, 'streamable-http') : undefined;
      if (!entry) {
        const missing = typeof sessionId !== 'string';
        jsonRpcError(
          res,
          missing ? 400 : 404,
          missing ? -32000 : -32001,
          missing ? 'Bad Request: Mcp-Session-Id header required' : 'Session not found',
        );
        return;
      }
      if (req.method === 'GET') standaloneStreamRequested(entry.transport);
      const lastEventId = req.headers['last-event-id'];
      if (
        req.method === 'GET' &&
        typeof lastEventId === 'string' &&
        eventStores.get(entry.transport as StreamableHTTPServerTransport)?.answeredAt(lastEventId)
      ) {
        // The stream already carried its response: nothing more will come (see event-store.ts).
        res.status(204).end();
        return;
      }
      try {
        await (entry.transport as StreamableHTTPServerTransport).handleRequest(req, res);
      } catch (err) {
        res.locals.log.error({ err }, 'error handling MCP request');
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
      }
    };
    app.get('/mcp', guard, existingSession);
    app.delete('/mcp', guard, existingSession);
  }

  // --- Legacy HTTP+SSE ---------------------------------------------------------------------
  app.get('/sse', guard, async (_req: Request, res: Response) => {
    if (sessions.size >= options.maxSessions) {
      tooManySessions(res);
      return;
    }
    const server = serverFactory();
    const transport = new SSEServerTransport('/message', res);
    const id = transport.sessionId;
    sessions.add({
      id,
      kind: 'sse',
      transport,
      lastActivity: Date.now(),
      close: async () => {
        await transport.close();
        await server.close();
      },
    });
    res.on('close', () => void sessions.remove(id, 'client'));
    try {
      await server.connect(transport);
    } catch (err) {
      res.locals.log.error({ err }, 'error starting SSE session');
      await sessions.remove(id, 'client');
    }
  });

  app.post('/message', guard, json, async (req: Request, res: Response) => {
    const sessionId = typeof req.query.sessionId === 'string' ? req.query.sessionId : undefined;
    const entry = sessionId ? sessions.get(sessionId, 'sse') : undefined;
    if (!entry) {
      jsonRpcError(
        res,
        404,
        -32001,
        'Session not found: open GET /sse first and use the endpoint it announces',
      );
      return;
    }
    try {
      await (entry.transport as SSEServerTransport).handlePostMessage(req, res, req.body);
    } catch (err) {
      res.locals.log.error({ err }, 'error handling SSE message');
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });

  // Body parser errors (too large, bad JSON) and anything else thrown: clear JSON-RPC errors.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      jsonRpcError(res, 413, -32600, `Request body too large (limit ${options.bodyLimit})`);
      return;
    }
    if (e.type === 'entity.parse.failed') {
      jsonRpcError(res, 400, -32700, 'Parse error: request body is not valid JSON');
      return;
    }
    // A body that cannot be decoded (corrupt gzip/deflate, unknown encoding or charset).
    if (e.status !== undefined && e.status >= 400 && e.status < 500) {
      jsonRpcError(
        res,
        e.status,
        -32700,
        `Parse error: request body could not be decoded (${e.message ?? e.type})`,
      );
      return;
    }
    res.locals.log?.error({ err }, 'unhandled error');
    if (!res.headersSent)
      jsonRpcError(res, e.status && e.status < 500 ? e.status : 500, -32603, 'Internal server error');
  });

  return { app, sessions, closeSessions: () => sessions.closeAll() };
}
