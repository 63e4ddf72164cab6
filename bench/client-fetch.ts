/**
 * bench:client — CPU the MCP client's HTTP layer spends per call, as one table: the worker's
 * fetch (src/mcp-client/http-fetch.ts), the global fetch, and undici's bare `request` (the floor
 * our fetch builds a standard Response on). Each does a JSON-RPC POST with the headers the SDK's
 * Streamable HTTP transport sends and parses a ~2 kB JSON reply, with CALLS_IN_FLIGHT calls in
 * flight, against a plain node:http server in a child process (so its CPU is not counted here).
 *
 *   npm run bench:client
 *   BENCH_CALLS=40000 BENCH_ROUNDS=5 npm run bench:client
 *   BENCH_COMPARE_WITH=/path/to/other/checkout npm run bench:client   # also that checkout's fetch
 *
 * Rounds interleave the variants, so a change in the machine's load hits them alike; the table
 * gives each variant's median and range of µs of this process's CPU per call.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { createHttpFetch, type HttpFetch } from '../src/mcp-client/http-fetch.ts';
import { percentile, table } from './lib.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP_CALLS ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLS_IN_FLIGHT = Number(process.env.BENCH_CALLS_IN_FLIGHT ?? 64);
const COMPARE_WITH = process.env.BENCH_COMPARE_WITH;

const SERVER = `
import { createServer } from 'node:http';
const reply = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x'.repeat(1800) }] } });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'bench' });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const REQUEST_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'save_note', arguments: { title: 'bench', content: 'c'.repeat(200) } },
});
const REQUEST_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-session-id': 'bench',
  'mcp-protocol-version': '2025-11-25',
};

type Call = () => Promise<unknown>;

async function cpuPerCall(call: Call, calls: number): Promise<number> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CALLS_IN_FLIGHT }, async () => {
      while (next++ < calls) await call();
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

function viaFetch(f: typeof fetch, url: string, connection: AbortSignal): Call {
  // The SDK's transport passes a Headers object and its connection-wide signal on every POST.
  return async () => {
    const res = await f(url, {
      method: 'POST',
      headers: new Headers(REQUEST_HEADERS),
      body: REQUEST_BODY,
      signal: connection,
    });
    return res.json();
  };
}

const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const origin = `http://127.0.0.1:${line.toString().trim()}`;
  const url = `${origin}/mcp`;
  const connection = new AbortController().signal;
  const fetches: HttpFetch[] = [createHttpFetch()];
  const pool = new Pool(origin);
  const variants: Array<[string, Call]> = [
    ["worker's fetch (src/mcp-client/http-fetch.ts)", viaFetch(fetches[0]!.fetch, url, connection)],
    ['global fetch', viaFetch(fetch, url, connection)],
    [
      "undici's bare request + json() (no Response)",
      async () => {
        const res = await pool.request({
          path: '/mcp',
          method: 'POST',
          headers: REQUEST_HEADERS,
          body: REQUEST_BODY,
        });
        return res.body.json();
      },
    ],
  ];
  if (COMPARE_WITH) {
    const other = pathToFileURL(resolve(COMPARE_WITH, 'src/mcp-client/http-fetch.ts')).href;
    const { createHttpFetch: createOther } = (await import(other)) as { createHttpFetch(): HttpFetch };
    const theirs = createOther();
    fetches.push(theirs);
    variants.push([`fetch of ${COMPARE_WITH}`, viaFetch(theirs.fetch, url, connection)]);
  }
  for (const [, call] of variants) await cpuPerCall(call, WARMUP_CALLS);
  const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of variants) samples.get(name)!.push(await cpuPerCall(call, CALLS));
  }
  const rows = variants.map(([name]) => {
    const sorted = samples.get(name)!.sort((a, b) => a - b);
    return [name, percentile(sorted, 50).toFixed(1), `${sorted[0]!.toFixed(1)}–${sorted.at(-1)!.toFixed(1)}`];
  });
  console.log(
    `\nclient CPU per call: ${CALLS} calls × ${ROUNDS} rounds, ${CALLS_IN_FLIGHT} in flight, ~2 kB JSON replies, Node ${process.version}\n`,
  );
  console.log(table(['variant', 'µs CPU/call (median)', 'range over rounds'], rows));
  for (const f of fetches) f.close();
  await pool.close();
} finally {
  child.kill();
}
