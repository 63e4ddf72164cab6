/**
 * The MCP server end to end through the official SDK Client over real HTTP: Streamable
 * HTTP (stateful on SQLite, stateless on PostgreSQL — the k8s shape) and legacy SSE, which is
 * also run with the v2 client package (@modelcontextprotocol/client).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectClient } from '../helpers/mcp-clients.ts';
import { connectSse, connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { type NotesScenarioClient, runNotesScenario } from '../helpers/mcp-suite.ts';
import { createTestDatabase } from '../helpers/postgres.ts';

describe('Streamable HTTP, stateful, SQLite', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('serves every tool and resource with the seed texts', async () => {
    const { client, transport } = await connectStreamable(srv.url);
    expect(transport.sessionId).toBeTruthy();
    expect(client.getServerVersion()?.name).toBe('mcp-hybrid-notes');
    await runNotesScenario(client, 'stateful');
    await client.close();
  });

  it('frees a session when the client deletes it', async () => {
    const { client, transport } = await connectStreamable(srv.url);
    const before = srv.server.http.sessions.size;
    await transport.terminateSession();
    await client.close();
    expect(srv.server.http.sessions.size).toBe(before - 1);
  });

  it('answers 404 to an unknown session and 400 to a non-initialize request without one', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const unknown = await fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': 'nope' },
      body,
    });
    expect(unknown.status).toBe(404);
    const none = await fetch(`${srv.url}/mcp`, { method: 'POST', headers, body });
    expect(none.status).toBe(400);
  });
});

describe('Streamable HTTP, stateless, PostgreSQL', () => {
  let srv: TestServer;
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    srv = await startTestServer({ DATABASE_URL: db.url, MCP_STATELESS: 'true' });
  });
  afterAll(async () => {
    await srv.stop();
    await db.drop();
  });

  it('serves every tool and resource without sessions', async () => {
    const { client, transport } = await connectStreamable(srv.url);
    expect(transport.sessionId).toBeUndefined();
    await runNotesScenario(client, 'stateless');
    expect(srv.server.http.sessions.size).toBe(0);
    expect(srv.store.backend).toBe('postgres');
    await client.close();
  });

  it('refuses GET /mcp with 405 (no standalone stream without sessions)', async () => {
    const res = await fetch(`${srv.url}/mcp`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(405);
  });
});

describe('legacy SSE transport', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('serves every tool and resource over /sse + /message', async () => {
    const client = await connectSse(srv.url);
    expect(srv.server.http.sessions.count('sse')).toBe(1);
    await runNotesScenario(client, 'sse');
    await client.close();
  });

  it('serves every tool and resource over /sse + /message to the v2 client package', async () => {
    const c = await connectClient('v2', 'sse', srv.url);
    try {
      await runNotesScenario(c.client as unknown as NotesScenarioClient, 'sse-v2');
    } finally {
      await c.client.close();
    }
  });

  it('answers 404 to a message for an unknown session', async () => {
    const res = await fetch(`${srv.url}/message?sessionId=unknown`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(404);
  });
});
