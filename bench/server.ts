/**
 * bench:server — throughput and latency of the MCP server over Streamable HTTP, next to a
 * bare Express JSON echo measured in the same run on the same machine, then search_notes
 * latency at 1k/10k/100k notes on SQLite and PostgreSQL. Prints markdown tables.
 *
 *   npm run bench:server                 # full run
 *   BENCH_SECONDS=3 npm run bench:server # shorter windows
 *   BENCH_SKIP_SEARCH=1 npm run bench:server
 *
 * The server and the echo run as separate processes; the load generator is this process.
 * Both targets are driven the same way — plain HTTP POSTs of JSON-RPC with fetch — so the
 * comparison measures the servers, not the clients: for MCP, each client opens its own
 * Streamable HTTP session (initialize, Mcp-Session-Id) and sends tools/call requests on it.
 * One more row drives read_note through the official SDK Client, whose own per-call cost
 * (validation, SSE parsing) is on the client side of this machine's two cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnEntry } from '../test/helpers/processes.ts';
import { closedLoop, type LoadResult, table } from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WINDOW = { durationMs: SECONDS * 1000, warmupMs: 1000 };
const CONCURRENCY = [1, 50];
const SEED_NOTES = 1000;

interface RawSession {
  callTool(name: string, args: Record<string, unknown>): Promise<unknown>;
}

/** A minimal Streamable HTTP client: one session, JSON-RPC over fetch, SSE or JSON replies. */
async function openRawSession(baseUrl: string): Promise<RawSession> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  };
  let id = 0;
  const post = async (message: object): Promise<Response> => {
    const res = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers, body: JSON.stringify(message) });
    if (res.status >= 400) throw new Error(`HTTP ${res.status}`);
    return res;
  };
  const rpc = async (method: string, params: object): Promise<Record<string, unknown>> => {
    const res = await post({ jsonrpc: '2.0', id: ++id, method, params });
    const text = await res.text();
    const json = res.headers.get('content-type')?.startsWith('text/event-stream')
      ? (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6)
      : text;
    const reply = JSON.parse(json) as { result?: Record<string, unknown>; error?: unknown };
    if (!reply.result || (reply.result as { isError?: boolean }).isError) throw new Error(json);
    return reply.result;
  };
  const init = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: ++id,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    }),
  });
  await init.text();
  const sessionId = init.headers.get('mcp-session-id');
  if (!sessionId) throw new Error('no session id');
  headers['mcp-session-id'] = sessionId;
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
  return { callTool: (name, args) => rpc('tools/call', { name, arguments: args }) };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-server-'));
  const server = spawnEntry(resolve(import.meta.dirname, '../src/bin/mcp-server.ts'), [], {
    PORT: '0',
    NOTES_DB: join(dir, 'notes.db'),
    LOG_LEVEL: 'info',
  });
  const echo = spawnEntry(resolve(import.meta.dirname, 'echo-server.ts'), [], {});
  try {
    const mcpUrl = (await server.waitForLog((l) => l.msg === 'MCP server listening')).url as string;
    const echoUrl = (await echo.waitForLog((l) => l.msg === 'echo listening')).url as string;

    const sessions: RawSession[] = [];
    for (let i = 0; i < Math.max(...CONCURRENCY); i++) sessions.push(await openRawSession(mcpUrl));
    const clients: Client[] = [];
    for (let i = 0; i < Math.max(...CONCURRENCY); i++) {
      const c = new Client({ name: `bench-${i}`, version: '1' });
      await c.connect(new StreamableHTTPClientTransport(new URL(`${mcpUrl}/mcp`)));
      clients.push(c);
    }
    const body = 'Discussed Q1 roadmap. Action items: review budget, schedule follow-up. '.repeat(4);
    for (let i = 0; i < SEED_NOTES; i++) {
      await clients[0]!.callTool({
        name: 'save_note',
        arguments: { title: `note ${i}`, content: `${body} #${i}` },
      });
    }

    const rows: Array<Array<string | number>> = [];
    const record = (what: string, concurrency: number, r: LoadResult, echoRate?: number) =>
      rows.push([
        what,
        concurrency,
        r.perSecond,
        r.p50Ms,
        r.p99Ms,
        r.errors,
        echoRate ? `${((100 * r.perSecond) / echoRate).toFixed(0)}%` : '',
      ]);

    for (const concurrency of CONCURRENCY) {
      const echoBody = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'read_note', arguments: { title: 'note 1' } },
      });
      const e = await closedLoop(
        concurrency,
        async () => {
          const res = await fetch(`${echoUrl}/echo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: echoBody,
          });
          await res.json();
        },
        WINDOW,
      );
      record('bare Express JSON echo', concurrency, e);
      const ops: Array<[string, (w: number, i: number) => Promise<unknown>]> = [
        [
          'read_note',
          (w, i) => sessions[w]!.callTool('read_note', { title: `note ${(w * 7 + i) % SEED_NOTES}` }),
        ],
        [
          'save_note',
          (w, i) => sessions[w]!.callTool('save_note', { title: `bench ${w}-${i % 100}`, content: body }),
        ],
        ['search_notes', (w) => sessions[w]!.callTool('search_notes', { keyword: '#42', limit: 10 })],
        [
          'read_note (SDK Client)',
          (w, i) =>
            clients[w]!.callTool({
              name: 'read_note',
              arguments: { title: `note ${(w * 7 + i) % SEED_NOTES}` },
            }),
        ],
      ];
      for (const [name, op] of ops)
        record(name, concurrency, await closedLoop(concurrency, op, WINDOW), e.perSecond);
    }
    await Promise.all(clients.map((c) => c.close()));
    // Sessions opened with raw HTTP are closed by the server's shutdown below.

    console.log(`\n### MCP server over Streamable HTTP (${SECONDS}s windows, ${SEED_NOTES} notes, SQLite)\n`);
    console.log(table(['operation', 'clients', 'calls/s', 'p50 ms', 'p99 ms', 'errors', 'vs echo'], rows));
  } finally {
    server.child.kill('SIGTERM');
    echo.child.kill('SIGTERM');
    await Promise.all([server.exited, echo.exited]);
    rmSync(dir, { recursive: true, force: true });
  }

  if (!process.env.BENCH_SKIP_SEARCH) {
    const { benchSearch } = await import('./search.ts');
    const results = await benchSearch();
    console.log('\n### search_notes latency by store size\n');
    console.log(
      table(
        ['backend', 'notes', 'p50 ms', 'p99 ms'],
        results.map((r) => [r.backend, r.notes, r.p50Ms, r.p99Ms]),
      ),
    );
  }
}

await main();
