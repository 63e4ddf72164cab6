/**
 * Starts a real MCP HTTP server in this process on an ephemeral port, over a real store
 * (a temporary SQLite file by default, or PostgreSQL when given a URL), and stops it.
 */
import { realpathSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseServerConfig } from '../../src/config.ts';
import { openNotesStore } from '../../src/notes/open.ts';
import type { NotesStore } from '../../src/notes/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { type RunningHttpServer, startMcpHttpServer } from '../../src/server/runtime.ts';
import { makeTempDir } from './temp-dirs.ts';

const REPO = resolve(import.meta.dirname, '../..');

/**
 * What a test server's server_initialize sandbox shows besides the system paths: this
 * repository's sources, fixtures and modules (so `node src/bin/mcp-server.ts --stdio` and the
 * fixture servers run) and the node that runs the tests — not the repository itself.
 */
export const TEST_SANDBOX_PATHS: readonly string[] = [
  join(REPO, 'src'),
  join(REPO, 'test/fixtures'),
  join(REPO, 'node_modules'),
  join(REPO, 'package.json'),
  dirname(dirname(realpathSync(process.execPath))),
];

export interface TestServer {
  url: string;
  server: RunningHttpServer;
  store: NotesStore;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = makeTempDir('mcp-hybrid-test-');
  const config = parseServerConfig({
    NOTES_DB: join(dir, 'notes.db'),
    MCP_INIT_SANDBOX_PATHS: TEST_SANDBOX_PATHS.join(','),
    ...env,
    PORT: '0',
    HOST: '127.0.0.1',
    PATH: env.PATH ?? process.env.PATH,
    HOME: process.env.HOME,
  });
  const logger = silentLogger();
  const store = await openNotesStore({ notesDb: config.notesDb, databaseUrl: config.databaseUrl, logger });
  const server = await startMcpHttpServer({ config, store, logger });
  return {
    url: server.url,
    server,
    store,
    stop: async () => {
      try {
        await server.close();
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * One raw Streamable HTTP POST of a JSON-RPC message to `/mcp`, with the headers a client sends:
 * JSON in, JSON or SSE accepted, and, within a session, its id and protocol version.
 */
export function postMcp(
  baseUrl: string,
  body: object,
  session?: string,
  headers: Record<string, string> = {},
  protocolVersion = '2025-11-25',
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    ...(signal && { signal }),
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(session && { 'mcp-session-id': session, 'mcp-protocol-version': protocolVersion }),
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/**
 * A raw Streamable HTTP session: `initialize` (its reply read to the end) and
 * `notifications/initialized`. Returns the session id.
 */
export async function openRawSession(baseUrl: string, protocolVersion = '2025-11-25'): Promise<string> {
  const init = await postMcp(baseUrl, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${await init.text()}`);
  await init.text();
  const session = init.headers.get('mcp-session-id');
  if (!session) throw new Error('initialize answered without an Mcp-Session-Id');
  const ack = await postMcp(
    baseUrl,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    session,
    {},
    protocolVersion,
  );
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return session;
}

/** Reads an SSE body until its text so far contains `needle` (or the stream ends); returns the text. */
export async function readSseUntil(body: ReadableStream<Uint8Array>, needle: string): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel();
  }
  return text;
}

export async function connectStreamable(
  baseUrl: string,
  headers: Record<string, string> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers },
  });
  await client.connect(transport);
  return { client, transport };
}

export async function connectSse(baseUrl: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'test-client-sse', version: '1.0.0' });
  const transport = new SSEClientTransport(new URL(`${baseUrl}/sse`), {
    requestInit: { headers },
    eventSourceInit: {
      fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as object), ...headers } }),
    },
  });
  await client.connect(transport);
  return client;
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** save_note calls the server counted with `outcome` (success: ran; replayed: answered from the idempotency record). */
export async function saveNoteCalls(server: TestServer, outcome: 'success' | 'replayed'): Promise<number> {
  const metric = await server.server.metrics.toolCalls.get();
  return metric.values
    .filter((v) => v.labels.tool === 'save_note' && v.labels.outcome === outcome)
    .reduce((n, v) => n + v.value, 0);
}
