/**
 * Requests answered in plain JSON on Node's own request and response (src/server/json-post.ts),
 * over real HTTP against createHttpApp with a server that has a few probe tools: what the SDK's
 * JSON replies leave behind (typescript-sdk#2559), a request in flight when its session closes,
 * what a handler sees of its request, and the SDK's refusals kept as they were.
 */
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../src/observability/logger.ts';
import { createServerMetrics } from '../../src/observability/server-metrics.ts';
import { createHttpApp, type HttpApp } from '../../src/server/http.ts';
import { streamableInternals } from '../../src/server/sdk-internals.ts';
import { gate } from '../helpers/gate.ts';
import { openRawSession, postMcp } from '../helpers/mcp-server.ts';

const PROTOCOL = '2025-11-25';

let held = gate();
/** The signal and server of the last `hold` call; `onServer` is told of each server built, when set. */
let holdSignal: AbortSignal | undefined;
let holdServer: McpServer | undefined;
let onServer: ((server: McpServer) => void) | undefined;

function probeServer(): McpServer {
  const server = new McpServer({ name: 'probe', version: '1.0.0' }, { capabilities: { logging: {} } });
  onServer?.(server);
  server.registerTool('request_info', { inputSchema: { n: z.number() } }, async ({ n }, extra) => ({
    content: [{ type: 'text', text: 'ok' }],
    structuredContent: {
      n,
      probe: extra.requestInfo?.headers['x-probe'],
      host: extra.requestInfo?.headers.host,
      url: extra.requestInfo?.url?.href,
    },
  }));
  server.registerTool('hold', {}, async (extra) => {
    holdSignal = extra.signal;
    holdServer = server;
    held.entered();
    await held.released;
    return { content: [{ type: 'text', text: 'released' }] };
  });
  server.registerTool('chatty', {}, async (extra) => {
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: 'warning', data: 'said first' },
    });
    return { content: [{ type: 'text', text: 'then answered' }] };
  });
  server.registerTool('chatty_hold', {}, async (extra) => {
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: 'warning', data: 'said first' },
    });
    held.entered();
    await held.released;
    return { content: [{ type: 'text', text: 'released' }] };
  });
  return server;
}

async function listen(
  stateless: boolean,
  allowedHosts = ['127.0.0.1'],
): Promise<{ url: string; http: HttpApp; listener: Server }> {
  const http = createHttpApp({
    serverFactory: probeServer,
    store: { ping: async () => {} },
    logger: silentLogger(),
    metrics: createServerMetrics(undefined, false),
    options: {
      stateless,
      authToken: undefined,
      hostPolicy: { allowedHosts, allowedOrigins: [] },
      bodyLimit: '1mb',
      sessionIdleMs: 60_000,
      maxSessions: 10,
    },
  });
  const listener = http.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => listener.once('listening', resolve));
  const { port } = listener.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, http, listener };
}

const callTool = (id: number, name: string, args: object = {}, meta?: object) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta && { _meta: meta }) },
});

/** The data of an SSE reply's last event (the response). */
function lastSseData(text: string): unknown {
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .at(-1);
  return JSON.parse(data!.slice('data: '.length));
}

/** A tools/call with a raw Host header (fetch would not send one like these). */
function postWithHost(
  url: string,
  host: string,
  session?: string,
  id = 1,
): Promise<{ status?: number; body: string }> {
  const body = JSON.stringify(callTool(id, 'request_info', { n: 1 }));
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'POST',
        setHost: false,
        headers: {
          host,
          ...(session && { 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL }),
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('JSON replies of a stateful session', () => {
  let srv: Awaited<ReturnType<typeof listen>>;
  let session: string;
  const transportOf = (id: string) =>
    streamableInternals(
      srv.http.sessions.get(id, 'streamable-http')!.transport as StreamableHTTPServerTransport,
    );

  beforeAll(async () => {
    srv = await listen(false);
    session = await openRawSession(srv.url, PROTOCOL);
  });
  afterAll(async () => {
    await srv.http.closeSessions();
    await new Promise((r) => srv.listener.close(r));
  });

  it('leave nothing behind in the transport after 200 calls, 50 at a time (typescript-sdk#2559)', async () => {
    const web = transportOf(session);
    const streamsBefore = web._streamMapping.size;
    for (let round = 0; round < 4; round++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          postMcp(srv.url, callTool(1000 + round * 50 + i, 'request_info', { n: i }), session),
        ),
      );
      for (const [i, reply] of replies.entries()) {
        expect(reply.status).toBe(200);
        expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
        expect(reply.headers.get('mcp-session-id')).toBe(session);
        expect(await reply.json()).toMatchObject({
          id: 1000 + round * 50 + i,
          result: { structuredContent: { n: i } },
        });
      }
    }
    expect(web._streamMapping.size).toBe(streamsBefore);
    expect(web._requestToStreamMapping.size).toBe(0);
  });

  it('leave nothing behind either when the SDK writes the JSON reply itself (a Host with port 80)', async () => {
    const web = transportOf(session);
    const streamsBefore = web._streamMapping.size;
    for (let i = 0; i < 20; i++) {
      const reply = await postWithHost(srv.url, '127.0.0.1:80', session, 1500 + i);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({
        id: 1500 + i,
        result: { structuredContent: { url: 'http://127.0.0.1/mcp' } },
      });
    }
    expect(web._streamMapping.size).toBe(streamsBefore);
    expect(web._requestToStreamMapping.size).toBe(0);
  });

  it('give a handler the request headers and URL the SDK gives it on its own path', async () => {
    const headers = { 'x-probe': 'seen' };
    const json = await postMcp(srv.url, callTool(2001, 'request_info', { n: 1 }), session, headers);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    // A progress token makes the reply an SSE stream from the start: the SDK's own path.
    const sse = await postMcp(
      srv.url,
      callTool(2002, 'request_info', { n: 1 }, { progressToken: 'p' }),
      session,
      headers,
    );
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const fromJson = ((await json.json()) as { result: { structuredContent: object } }).result
      .structuredContent;
    const fromSdk = (lastSseData(await sse.text()) as { result: { structuredContent: object } }).result
      .structuredContent;
    expect(fromJson).toEqual(fromSdk);
    expect(fromJson).toEqual({ n: 1, probe: 'seen', host: new URL(srv.url).host, url: `${srv.url}/mcp` });
  });

  it('switch to an SSE stream when the call sends a message before its response', async () => {
    const reply = await postMcp(srv.url, callTool(2101, 'chatty'), session);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await reply.text();
    expect(text).toContain('said first');
    expect(lastSseData(text)).toMatchObject({ id: 2101, result: { content: [{ text: 'then answered' }] } });
  });

  it('forget a switched SSE reply whose client went away, and keep serving', async () => {
    const web = transportOf(session);
    const streamsBefore = web._streamMapping.size;
    held = gate();
    const abort = new AbortController();
    const reply = await postMcp(srv.url, callTool(2151, 'chatty_hold'), session, {}, PROTOCOL, abort.signal);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = reply.body!.getReader();
    let seen = '';
    while (!seen.includes('said first')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    await held.reached;
    abort.abort();
    await expect.poll(() => web._streamMapping.size, { timeout: 10_000 }).toBe(streamsBefore);
    held.release();
    const ok = await postMcp(srv.url, callTool(2152, 'request_info', { n: 3 }), session);
    expect(await ok.json()).toMatchObject({ id: 2152, result: { structuredContent: { n: 3 } } });
  });

  it('answer a request still in flight when its session is deleted, instead of leaving it hanging', async () => {
    const doomed = await openRawSession(srv.url, PROTOCOL);
    held = gate();
    const inFlight = postMcp(srv.url, callTool(2201, 'hold'), doomed);
    await held.reached;
    const deleted = await fetch(`${srv.url}/mcp`, {
      method: 'DELETE',
      headers: { 'mcp-session-id': doomed, 'mcp-protocol-version': PROTOCOL },
    });
    expect(deleted.status).toBe(200);
    const reply = await inFlight;
    expect(reply.status).toBe(404);
    expect(await reply.json()).toMatchObject({
      error: { code: -32001, message: expect.stringMatching(/closed/) },
    });
    held.release();
  });

  it('refuse what the SDK refuses, with the SDK’s answers', async () => {
    const tool = callTool(2301, 'request_info', { n: 1 });
    const notAcceptable = await postMcp(srv.url, tool, session, { accept: 'application/json' });
    expect(notAcceptable.status).toBe(406);
    const badVersion = await postMcp(srv.url, tool, session, {}, '1999-01-01');
    expect(badVersion.status).toBe(400);
    expect(await badVersion.text()).toMatch(/Unsupported protocol version: 1999-01-01/);
    const notJsonRpc = await postMcp(srv.url, { jsonrpc: '2.0', id: 2302, params: {} }, session);
    expect(notJsonRpc.status).toBe(400);
    expect(await notJsonRpc.json()).toMatchObject({ error: { code: -32700 } });
    const reinit = await postMcp(
      srv.url,
      {
        jsonrpc: '2.0',
        id: 2303,
        method: 'initialize',
        params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      },
      session,
    );
    expect(reinit.status).toBe(400);
    expect(await reinit.json()).toMatchObject({ error: { code: -32600, message: /already initialized/ } });
    // The session still serves.
    const ok = await postMcp(srv.url, callTool(2304, 'request_info', { n: 2 }), session);
    expect(await ok.json()).toMatchObject({ id: 2304, result: { structuredContent: { n: 2 } } });
  });
});

describe('JSON replies of a stateless server', () => {
  let srv: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    srv = await listen(true);
  });
  afterAll(async () => {
    await new Promise((r) => srv.listener.close(r));
  });

  it('answer each request in JSON with what the SDK gives a handler on its own path', async () => {
    const headers = { 'x-probe': 'stateless' };
    const json = await postMcp(srv.url, callTool(1, 'request_info', { n: 7 }), undefined, headers);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.headers.get('mcp-session-id')).toBeNull();
    const sse = await postMcp(
      srv.url,
      callTool(2, 'request_info', { n: 7 }, { progressToken: 1 }),
      undefined,
      headers,
    );
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const fromJson = ((await json.json()) as { id: number; result: { structuredContent: object } }).result;
    expect(fromJson.structuredContent).toEqual(
      (lastSseData(await sse.text()) as { result: { structuredContent: object } }).result.structuredContent,
    );
    expect(fromJson.structuredContent).toMatchObject({ n: 7, probe: 'stateless' });
  });

  it('reuse the server of a tools/call answered in full, leave others to the garbage collector unclosed, and close one whose client went away', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let built = 0;
    let closed = 0;
    let collected = 0;
    const registry = new FinalizationRegistry(() => {
      collected++;
    });
    onServer = (server) => {
      built++;
      server.server.onclose = () => {
        closed++;
      };
      registry.register(server, undefined);
    };
    try {
      // One request after another: one server answers them all (stateless-servers.ts).
      for (let i = 0; i < 20; i++) {
        const reply = await postMcp(srv.url, callTool(300 + i, 'request_info', { n: i }));
        expect(await reply.json()).toMatchObject({ id: 300 + i, result: { structuredContent: { n: i } } });
      }
      expect(built).toBeLessThanOrEqual(1);
      // Other methods get a server each, which is collected without a close.
      built = 0;
      for (let i = 0; i < 20; i++) {
        const reply = await postMcp(srv.url, { jsonrpc: '2.0', id: 350 + i, method: 'tools/list' });
        expect(await reply.json()).toMatchObject({ id: 350 + i, result: { tools: expect.any(Array) } });
      }
      expect(built).toBe(20);
      srv.listener.closeIdleConnections();
      await expect
        .poll(
          async () => {
            gc();
            await new Promise((r) => setImmediate(r));
            return collected;
          },
          { timeout: 20_000, interval: 50 },
        )
        .toBeGreaterThanOrEqual(20);
      expect(closed).toBe(0);

      // A client that goes away mid-call: its server is closed, which aborts the handler, and
      // is not used again.
      held = gate();
      const abort = new AbortController();
      const inFlight = postMcp(srv.url, callTool(400, 'hold'), undefined, {}, PROTOCOL, abort.signal).catch(
        (err: unknown) => err,
      );
      await held.reached;
      const holding = holdSignal;
      const aborted = holdServer;
      abort.abort();
      await inFlight;
      await expect.poll(() => closed, { timeout: 10_000 }).toBe(1);
      expect(holding?.aborted).toBe(true);
      held.release();
      held = gate();
      const next = postMcp(srv.url, callTool(401, 'hold'));
      await held.reached;
      expect(holdServer).not.toBe(aborted);
      expect(holdSignal?.aborted).toBe(false);
      held.release();
      expect(await (await next).json()).toMatchObject({
        id: 401,
        result: { content: [{ text: 'released' }] },
      });
    } finally {
      onServer = undefined;
    }
  });

  it('answer 100 concurrent requests each with its own response', async () => {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => postMcp(srv.url, callTool(100 + i, 'request_info', { n: i }))),
    );
    for (const [i, reply] of replies.entries()) {
      expect(await reply.json()).toMatchObject({ id: 100 + i, result: { structuredContent: { n: i } } });
    }
  });
});

describe('a Host header no URL can be made of (every host allowed)', () => {
  it('is refused 400 as the SDK refuses it, not a 500; any other Host is served', async () => {
    const srv = await listen(true, ['*']);
    try {
      for (const host of ['a b', '[::1', 'x:99999'])
        expect((await postWithHost(srv.url, host)).status).toBe(400);
      // Served on Node's request and response, and (upper case, port 80) through the SDK's adaptor.
      for (const [host, url] of [
        [new URL(srv.url).host, `${srv.url}/mcp`],
        ['notes.example:8080', 'http://notes.example:8080/mcp'],
        ['Notes.Example', 'http://notes.example/mcp'],
        ['notes.example:80', 'http://notes.example/mcp'],
      ] as const) {
        const reply = await postWithHost(srv.url, host);
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body)).toMatchObject({ result: { structuredContent: { url } } });
      }
    } finally {
      await new Promise((r) => srv.listener.close(r));
    }
  });
});
