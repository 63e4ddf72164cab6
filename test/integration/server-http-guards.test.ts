/**
 * The HTTP edge of the server over real sockets: bearer auth, Host/Origin validation
 * (DNS rebinding), body size limit, malformed JSON, health/readiness/metrics, and session
 * lifecycle (no leak under many sessions; idle sessions are closed).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSse,
  connectStreamable,
  startTestServer,
  type TestServer,
  waitFor,
} from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** fetch() drops a Host header; node:http sends the one we give, as a rebinding attacker's browser would. */
function rawPost(url: string, headers: Record<string, string>, body = INIT): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bearer token', () => {
  let srv: TestServer;
  const token = 's3cret-token-value';
  beforeAll(async () => {
    srv = await startTestServer({ MCP_AUTH_TOKEN: token });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('rejects /mcp, /sse and /message without the token (401) and keeps health and readiness open', async () => {
    for (const [path, init] of [
      ['/mcp', { method: 'POST', headers: MCP_HEADERS, body: INIT }],
      ['/sse', { method: 'GET' }],
      ['/message?sessionId=x', { method: 'POST', headers: MCP_HEADERS, body: '{}' }],
    ] as const) {
      const res = await fetch(`${srv.url}${path}`, init);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const wrong = await fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: 'Bearer wrong-token-value!' },
      body: INIT,
    });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${srv.url}/health`)).status).toBe(200);
    expect((await fetch(`${srv.url}/ready`)).status).toBe(200);
  });

  it('serves clients that send the token, over Streamable HTTP and SSE', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const { client } = await connectStreamable(srv.url, auth);
    expect(textOf(await call(client, 'list_notes'))).toBe('No notes saved yet.');
    await client.close();
    const sse = await connectSse(srv.url, auth);
    expect(textOf(await call(sse, 'list_notes'))).toBe('No notes saved yet.');
    await sse.close();
  });
});

describe('Host and Origin validation', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  const post = (headers: Record<string, string>) => rawPost(`${srv.url}/mcp`, headers);

  it('rejects a foreign Host or Origin with 403 before any MCP processing', async () => {
    expect(await post({ host: 'evil.example.com', origin: 'http://evil.example.com' })).toBe(403);
    expect(await post({ host: 'evil.example.com' })).toBe(403);
    expect(await post({ host: 'evil.example.com:80' })).toBe(403);
    expect(await post({ origin: 'http://evil.example.com' })).toBe(403);
    const sse = await new Promise<number>((resolve, reject) => {
      const req = request(`${srv.url}/sse`, { headers: { host: 'evil.example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.end();
    });
    expect(sse).toBe(403);
    expect(srv.server.http.sessions.size).toBe(0);
  });

  it('accepts localhost names with and without an Origin', async () => {
    const port = new URL(srv.url).port;
    expect(await post({ host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe(200);
    expect(await post({ host: `127.0.0.1:${port}` })).toBe(200);
    expect(await post({})).toBe(200);
  });
});

describe('Host allowlist from configuration', () => {
  it('accepts exactly the listed service names', async () => {
    const srv = await startTestServer({ MCP_ALLOWED_HOSTS: 'mcp-server,mcp-server.mcp-hybrid.svc' });
    try {
      expect(await rawPost(`${srv.url}/mcp`, { host: 'mcp-server:8080' })).toBe(200);
      expect(await rawPost(`${srv.url}/mcp`, { host: 'mcp-server.mcp-hybrid.svc' })).toBe(200);
      expect(await rawPost(`${srv.url}/mcp`, {})).toBe(403);
    } finally {
      await srv.stop();
    }
  });
});

describe('request bodies', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ MCP_BODY_LIMIT: '64kb', NOTES_MAX_CONTENT_BYTES: '1000' });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('answers 413 to a body over the limit and 400 to malformed JSON, then keeps serving', async () => {
    const big = await fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70 * 1024) } }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/too large/);
    const bad = await fetch(`${srv.url}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: '{"jsonrpc":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const { client } = await connectStreamable(srv.url);
    const tooLong = await call(client, 'save_note', { title: 't', content: 'é'.repeat(501) });
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toMatch(/content must be at most 1000 bytes/);
    expect(textOf(await call(client, 'save_note', { title: 't', content: 'é'.repeat(500) }))).toBe(
      "Note 't' saved successfully.",
    );
    await client.close();
  });
});

describe('health, readiness and metrics', () => {
  it('reports ready while the store answers and 503 once it is gone', async () => {
    const srv = await startTestServer();
    try {
      expect(await (await fetch(`${srv.url}/health`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${srv.url}/ready`)).status).toBe(200);
      const { client } = await connectStreamable(srv.url);
      await call(client, 'save_note', { title: 'm', content: 'x' });
      await call(client, 'read_note', { title: 'nope' });
      const metrics = await (await fetch(`${srv.url}/metrics`)).text();
      expect(metrics).toMatch(/mcp_tool_calls_total\{tool="save_note",outcome="success"\} 1/);
      expect(metrics).toMatch(/mcp_tool_calls_total\{tool="read_note",outcome="error"\} 1/);
      expect(metrics).toMatch(/mcp_tool_duration_seconds_bucket\{le="[^"]+",tool="save_note"\}/);
      expect(metrics).toMatch(/mcp_http_requests_total\{route="\/mcp",method="POST",status="200"\}/);
      expect(metrics).toMatch(/mcp_active_sessions\{transport="streamable-http"\} 1/);
      expect(metrics).toMatch(/process_cpu_user_seconds_total/);
      await client.close();
      await srv.store.close();
      expect((await fetch(`${srv.url}/ready`)).status).toBe(503);
      expect((await fetch(`${srv.url}/health`)).status).toBe(200);
    } finally {
      await srv.server.close();
    }
  });
});

describe('session lifecycle', () => {
  it('holds no session after 60 clients connect and leave, over both transports', async () => {
    const srv = await startTestServer();
    try {
      for (let round = 0; round < 3; round++) {
        const streamable = await Promise.all(Array.from({ length: 10 }, () => connectStreamable(srv.url)));
        const clients = streamable.map((s) => s.client);
        const sse = await Promise.all(Array.from({ length: 10 }, () => connectSse(srv.url)));
        expect(srv.server.http.sessions.count('sse')).toBe(10);
        await Promise.all([...clients, ...sse].map((c) => c.ping()));
        // Streamable clients end with DELETE; SSE clients by dropping the stream.
        await Promise.all(
          streamable.map(async ({ client, transport }) => {
            await transport.terminateSession();
            await client.close();
          }),
        );
        await Promise.all(sse.map((c) => c.close()));
        await waitFor(() => srv.server.http.sessions.size === 0, 5_000, 'sessions to close');
      }
      const metrics = await (await fetch(`${srv.url}/metrics`)).text();
      expect(metrics).toMatch(/mcp_active_sessions\{transport="sse"\} 0/);
      expect(metrics).toMatch(/mcp_active_sessions\{transport="streamable-http"\} 0/);
    } finally {
      await srv.stop();
    }
  });

  it('closes sessions that go idle, and the client can start a new one', async () => {
    const srv = await startTestServer({ MCP_SESSION_IDLE_MS: '1000' });
    try {
      const { client } = await connectStreamable(srv.url);
      expect(srv.server.http.sessions.size).toBe(1);
      await waitFor(() => srv.server.http.sessions.size === 0, 5_000, 'idle session to close');
      await expect(client.ping()).rejects.toThrow();
      const fresh = await connectStreamable(srv.url);
      await fresh.client.ping();
      await fresh.client.close();
    } finally {
      await srv.stop();
    }
  });

  it('refuses new sessions beyond MCP_MAX_SESSIONS with 503', async () => {
    const srv = await startTestServer({ MCP_MAX_SESSIONS: '2' });
    try {
      const a = await connectStreamable(srv.url);
      const b = await connectStreamable(srv.url);
      const res = await fetch(`${srv.url}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: INIT });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      await a.client.close();
      await b.client.close();
    } finally {
      await srv.stop();
    }
  });
});
