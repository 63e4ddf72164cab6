/**
 * The load generator of bench:server, run as its own process so that its CPU is not the
 * servers': autocannon's programmatic API drives one target for a warm-up window, then for the
 * measured window, and prints one JSON line with the measured window's figures, its own CPU
 * use and (given the server's pid) the server's CPU use over the same window.
 *
 *   node bench/load.ts '<LoadSpec as JSON>'
 *
 * Every request carries a unique JSON-RPC id; save_note bodies carry a unique title. A
 * stateful target gets a list of open sessions and each request names one of them in turn
 * (Mcp-Session-Id), so the sessions share the load evenly.
 */

import autocannon from 'autocannon';
import { processCpuMs } from './lib.ts';

export type LoadBody =
  | { kind: 'echo' }
  | { kind: 'tool'; tool: 'read_note' | 'save_note' | 'search_notes' | 'greet'; seedNotes?: number };

export interface LoadSpec {
  url: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  body: LoadBody;
  headers: Record<string, string>;
  /** Mcp-Session-Id values to spread requests over (stateful targets). */
  sessions?: string[];
  /** The server process, to report its CPU use over the measured window. */
  serverPid?: number;
  /** Distinguishes save_note titles of different runs against one store. */
  tag: string;
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses, socket errors and timeouts. */
  failures: number;
  /** CPU time of this generator process over the window, as % of one core. */
  generatorCpuPct: number;
  /** CPU time of the server process over the window, as % of one core (undefined without serverPid). */
  serverCpuPct?: number;
}

const SEARCH_KEYWORD = '#42';

function bodyFor(spec: LoadSpec, n: number): string {
  const body = spec.body;
  if (body.kind === 'echo') {
    return JSON.stringify({
      jsonrpc: '2.0',
      id: n,
      method: 'tools/call',
      params: { name: 'read_note', arguments: { title: `note ${n % 1000}` } },
    });
  }
  const seed = body.seedNotes ?? 1000;
  const args =
    body.tool === 'read_note'
      ? { title: `note ${n % seed}` }
      : body.tool === 'save_note'
        ? { title: `bench ${spec.tag} ${n}`, content: SAVE_CONTENT }
        : body.tool === 'search_notes'
          ? { keyword: SEARCH_KEYWORD, limit: 10 }
          : { name: `client ${n}` };
  return JSON.stringify({
    jsonrpc: '2.0',
    id: n,
    method: 'tools/call',
    params: { name: body.tool, arguments: args },
  });
}

export const SAVE_CONTENT = 'Discussed Q1 roadmap. Action items: review budget, schedule follow-up. '
  .repeat(4)
  .trimEnd();

function run(spec: LoadSpec, seconds: number, counter: { n: number }): Promise<autocannon.Result> {
  const sessions = spec.sessions ?? [];
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: seconds,
        method: 'POST',
        headers: spec.headers,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const n = counter.n++;
              const headers =
                sessions.length > 0
                  ? { ...spec.headers, 'mcp-session-id': sessions[n % sessions.length]! }
                  : spec.headers;
              return { ...req, headers, body: bodyFor(spec, n) };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const counter = { n: 1 };
  if (spec.warmupSeconds > 0) await run(spec, spec.warmupSeconds, counter);
  const cpu0 = process.cpuUsage();
  const server0 = spec.serverPid ? processCpuMs(spec.serverPid) : 0;
  const t0 = performance.now();
  const r = await run(spec, spec.seconds, counter);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const server1 = spec.serverPid ? processCpuMs(spec.serverPid) : 0;
  const result: LoadResult = {
    requests: r.requests.total,
    perSecond: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    failures: r.non2xx + r.errors + r.timeouts,
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    ...(spec.serverPid && { serverCpuPct: ((server1 - server0) / wallMs) * 100 }),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
