/**
 * bench:server — throughput and latency of the MCP server over Streamable HTTP, next to the
 * baselines measured in the same run on the same machine, as one table:
 *   - a bare Express JSON echo (bench/echo-server.ts),
 *   - the bare SDK stateful pattern and the bare SDK stateless pattern (bench/sdk-server.ts,
 *     built as the SDK's examples are, one trivial tool),
 *   - our server (src/bin/mcp-server.ts, SQLite, 1,000 notes) with stateful sessions and with
 *     MCP_STATELESS=true, for read_note, save_note (a new title each call) and search_notes.
 * Then search_notes latency at 1k/10k/100k notes on SQLite and PostgreSQL (bench/search.ts).
 *
 *   npm run bench:server
 *   BENCH_SECONDS=10 BENCH_WARMUP_SECONDS=3 BENCH_CONNECTIONS=50 npm run bench:server
 *   BENCH_ROUNDS=3 npm run bench:server      # every target in turn, three times; medians
 *   BENCH_TARGETS=echo,sdk-stateful,stateful BENCH_TOOLS=read_note npm run bench:server   # a subset
 *   BENCH_SKIP_SEARCH=1 npm run bench:server
 *   BENCH_SERVER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' ...   # profile our server
 *   BENCH_SDK_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/sdkprof' ...   # profile the bare SDK servers
 *   BENCH_SERVER_ENV='{"MCP_EVENT_STORE_BYTES":"0"}' ...   # more settings for our server
 *   BENCH_COMPARE_WITH=/path/to/main BENCH_COMPARE_LABEL=main ...   # also that checkout's server, same run
 *   BENCH_SIDE_BY_SIDE=1 BENCH_TARGETS=stateful BENCH_TOOLS=read_note ...   # loaded at the same moment
 *   BENCH_PIN=0/1 BENCH_SIDE_BY_SIDE=1 ...   # servers on CPU 0, generators on CPU 1 (taskset)
 *
 * Each server runs in its own process, one at a time, on loopback. With BENCH_SIDE_BY_SIDE=1 the
 * bare SDK server of a mode, ours and the compared checkout's run together instead, and each tool
 * loads all of them at the same moment (a generator each, the bare SDK calling `greet`): on a
 * machine whose speed swings from one minute to the next, only servers measured in the same
 * window compare. Their CPU per call is then inflated alike by sharing the cores; the ratios are
 * what to read (the echo, when asked for, still runs alone first). The load generator is
 * autocannon (bench/load.ts) in a process of its own, so neither this process nor the
 * generator shares the server's event loop; the table reports the generator's CPU use and the
 * server's over each measured window, so a saturated generator would show.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Spawned, spawnEntry } from '../test/helpers/processes.ts';
import { table } from './lib.ts';
import { type LoadResult, type LoadSpec, SAVE_CONTENT } from './load.ts';
import { callTool, MCP_HEADERS, openSession, toolErrorCount } from './mcp-http.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Every target once per round, in turn, so a change in the machine's load hits them alike; medians are printed. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const SEED_NOTES = 1000;
const ALL_TARGETS = ['echo', 'sdk-stateful', 'sdk-stateless', 'stateful', 'stateless'] as const;
type Target = (typeof ALL_TARGETS)[number];
const TARGETS = new Set<Target>(
  (process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()) as Target[] | undefined) ?? ALL_TARGETS,
);
const ALL_TOOLS = ['read_note', 'save_note', 'search_notes'] as const;
type OurTool = (typeof ALL_TOOLS)[number];
const OUR_TOOLS = ALL_TOOLS.filter((t) => process.env.BENCH_TOOLS?.split(',').includes(t) ?? true);

interface Row {
  name: string;
  /** The name of the bare SDK row this one compares with. */
  sdk?: string;
  /** Over several rounds: the median of each round's ratio to its bare SDK row (req/s; inverse CPU per call). */
  vsSdk?: { perSecond: number; cpu: number };
  r: LoadResult;
  toolErrors?: number;
}

/** Runs bench/load.ts in its own process and returns its figures. */
function measure(
  spec: Omit<LoadSpec, 'connections' | 'seconds' | 'warmupSeconds' | 'tag'>,
): Promise<LoadResult> {
  const full: LoadSpec = {
    ...spec,
    connections: CONNECTIONS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    tag: `${process.pid}-${Date.now()}`,
  };
  const child = spawn(process.execPath, [resolve(import.meta.dirname, 'load.ts'), JSON.stringify(full)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  pin(child.pid, PIN?.generators);
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolvePromise(JSON.parse(out.trim().split('\n').pop() ?? '') as LoadResult);
    });
  });
}

/**
 * BENCH_PIN=<servers>/<generators>, e.g. `0/1`: every server process (all its threads) on the
 * first CPU list, every generator on the second (taskset). Side by side, the servers then share
 * their core evenly and never their generators'.
 */
const PIN = (() => {
  const spec = process.env.BENCH_PIN;
  if (!spec) return undefined;
  const [servers, generators] = spec.split('/');
  if (!servers || !generators) throw new Error(`BENCH_PIN must be <cpus>/<cpus>, e.g. 0/1 (got ${spec})`);
  return { servers, generators };
})();

function pin(pid: number | undefined, cpus: string | undefined): void {
  if (pid === undefined || cpus === undefined) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -c ${cpus} ${pid} failed: ${r.stderr || r.error?.message}`);
}

/** A started target: measures itself under load (one row per call) until stopped. */
interface Running {
  measure(tool?: OurTool): Promise<Row>;
  stop(): Promise<void>;
}

async function startProcess(
  spawned: Spawned,
  logMsg: string,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const stop = async () => {
    spawned.child.kill('SIGTERM');
    await spawned.exited;
  };
  try {
    const url = (await spawned.waitForLog((l) => l.msg === logMsg, 60_000)).url as string;
    pin(spawned.child.pid, PIN?.servers);
    return { url, pid: spawned.child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const toolArgs = (tool: OurTool) =>
  tool === 'read_note'
    ? { title: 'note 1' }
    : tool === 'save_note'
      ? { title: 'bench check', content: SAVE_CONTENT }
      : { keyword: '#42', limit: 10 };

/** Another checkout of this project (BENCH_COMPARE_WITH) to measure in the same run, e.g. main before a change. */
const COMPARE_WITH = process.env.BENCH_COMPARE_WITH;
const COMPARE_LABEL = process.env.BENCH_COMPARE_LABEL ?? 'compared';
/** Bare SDK, ours and the compared checkout loaded at the same moment (see the header). */
const SIDE_BY_SIDE = process.env.BENCH_SIDE_BY_SIDE === '1';

/** Our server (SQLite in `dir`, seeded with SEED_NOTES notes), from this checkout or another. */
async function startOurServer(
  dir: string,
  stateless: boolean,
  checkout = resolve(import.meta.dirname, '..'),
  label = 'ours',
): Promise<Running> {
  const env: Record<string, string> = {
    PORT: '0',
    NOTES_DB: join(dir, 'notes.db'),
    LOG_LEVEL: 'info',
    MCP_STATELESS: String(stateless),
    ...(process.env.BENCH_SERVER_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS }),
    ...(JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>),
  };
  const { url, pid, stop } = await startProcess(
    spawnEntry(resolve(checkout, 'src/bin/mcp-server.ts'), [], env),
    'MCP server listening',
  );
  try {
    const sessions = stateless
      ? undefined
      : await Promise.all(Array.from({ length: CONNECTIONS }, () => openSession(url)));
    const at = (i: number) => sessions?.[i % sessions.length];
    // Seed once (the stateless run reuses the file); save_note overwrites titles that exist.
    for (let i = 0; i < SEED_NOTES; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, SEED_NOTES - i) }, (_, j) =>
          callTool(url, at(j), 'save_note', { title: `note ${i + j}`, content: `${SAVE_CONTENT} #${i + j}` }),
        ),
      );
    }
    const mode = stateless ? 'stateless' : 'stateful';
    return {
      stop,
      async measure(tool = 'read_note') {
        await callTool(url, at(0), tool, toolArgs(tool));
        const before = await toolErrorCount(url);
        const r = await measure({
          url: `${url}/mcp`,
          headers: MCP_HEADERS,
          body: { kind: 'tool', tool, seedNotes: SEED_NOTES },
          serverPid: pid,
          ...(sessions && { sessions }),
        });
        return {
          name: `${label} ${mode}: ${tool}`,
          sdk: `bare SDK ${mode} (greet)${SIDE_BY_SIDE ? `, beside ${tool}` : ''}`,
          r,
          toolErrors: (await toolErrorCount(url)) - before,
        };
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The bare SDK pattern (bench/sdk-server.ts) with its one `greet` tool. */
async function startSdk(mode: 'stateful' | 'stateless'): Promise<Running> {
  const { url, pid, stop } = await startProcess(
    spawnEntry(resolve(import.meta.dirname, 'sdk-server.ts'), [mode], {
      ...(process.env.BENCH_SDK_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_SDK_NODE_OPTIONS }),
    }),
    'sdk server listening',
  );
  try {
    const sessions =
      mode === 'stateful'
        ? await Promise.all(Array.from({ length: CONNECTIONS }, () => openSession(url)))
        : undefined;
    await callTool(url, sessions?.[0], 'greet', { name: 'check' });
    return {
      stop,
      async measure(beside?: OurTool) {
        const r = await measure({
          url: `${url}/mcp`,
          headers: MCP_HEADERS,
          body: { kind: 'tool', tool: 'greet' },
          serverPid: pid,
          ...(sessions && { sessions }),
        });
        return { name: `bare SDK ${mode} (greet)${beside ? `, beside ${beside}` : ''}`, r };
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function benchEcho(rows: Row[]): Promise<void> {
  const { url, pid, stop } = await startProcess(
    spawnEntry(resolve(import.meta.dirname, 'echo-server.ts'), [], {}),
    'echo listening',
  );
  try {
    const r = await measure({
      url: `${url}/echo`,
      headers: { 'content-type': 'application/json' },
      body: { kind: 'echo' },
      serverPid: pid,
    });
    rows.push({ name: 'bare Express JSON echo', r });
  } finally {
    await stop();
  }
}

/** Starts targets, measures each as `measureEach` says, stops them all. */
async function withTargets(
  starts: Array<() => Promise<Running>>,
  measureEach: (targets: Running[]) => Promise<void>,
) {
  const targets: Running[] = [];
  try {
    for (const start of starts) targets.push(await start());
    await measureEach(targets);
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
  }
}

/** One round: every target in turn, or (BENCH_SIDE_BY_SIDE) the servers of a mode and tool at once. */
async function round(dir: string): Promise<Row[]> {
  const rows: Row[] = [];
  const other = join(dir, 'compared');
  mkdirSync(other, { recursive: true });
  if (TARGETS.has('echo')) await benchEcho(rows);
  if (SIDE_BY_SIDE) {
    for (const mode of ['stateful', 'stateless'] as const) {
      if (!TARGETS.has(mode)) continue;
      const stateless = mode === 'stateless';
      await withTargets(
        [
          () => startSdk(mode),
          () => startOurServer(dir, stateless),
          ...(COMPARE_WITH ? [() => startOurServer(other, stateless, COMPARE_WITH, COMPARE_LABEL)] : []),
        ],
        async (targets) => {
          for (const tool of OUR_TOOLS)
            rows.push(...(await Promise.all(targets.map((t) => t.measure(tool)))));
        },
      );
    }
    return rows;
  }
  const eachTool = async (targets: Running[]) => {
    for (const tool of OUR_TOOLS) rows.push(await targets[0]!.measure(tool));
  };
  for (const mode of ['stateful', 'stateless'] as const)
    if (TARGETS.has(`sdk-${mode}`))
      await withTargets([() => startSdk(mode)], async ([t]) => void rows.push(await t!.measure()));
  for (const mode of ['stateful', 'stateless'] as const)
    if (TARGETS.has(mode)) await withTargets([() => startOurServer(dir, mode === 'stateless')], eachTool);
  if (COMPARE_WITH) {
    for (const mode of ['stateful', 'stateless'] as const)
      if (TARGETS.has(mode))
        await withTargets(
          [() => startOurServer(other, mode === 'stateless', COMPARE_WITH, COMPARE_LABEL)],
          eachTool,
        );
  }
  return rows;
}

/** Per target, the median of each figure over the rounds (errors: the sum). */
/** Server CPU per request in µs: what the server would need per call with a core to itself. */
const cpuUs = (r: LoadResult | undefined) =>
  r ? ((r.serverCpuPct ?? 0) / 100 / r.perSecond) * 1e6 : Number.NaN;

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/**
 * Per target, the median of each figure over the rounds (errors: the sum). A row's ratios to its
 * bare SDK row are the medians of each round's ratio: a round's two rows ran closest in time (in
 * side-by-side runs, at once), so a swing of the machine's speed between rounds cancels out.
 */
function medianRows(rounds: Row[][]): Row[] {
  return (rounds[0] ?? []).map((first, i) => {
    const all = rounds.map((rows) => rows[i]!);
    const of = (f: (r: LoadResult) => number) => median(all.map((row) => f(row.r)));
    const pairs = first.sdk
      ? rounds.flatMap((rows) => {
          const sdk = rows.find((row) => row.name === first.sdk);
          return sdk ? [{ ours: rows[i]!.r, sdk: sdk.r }] : [];
        })
      : [];
    return {
      ...first,
      ...(pairs.length > 0 && {
        vsSdk: {
          perSecond: median(pairs.map((p) => p.ours.perSecond / p.sdk.perSecond)),
          cpu: median(pairs.map((p) => cpuUs(p.sdk) / cpuUs(p.ours))),
        },
      }),
      r: {
        requests: of((r) => r.requests),
        perSecond: of((r) => r.perSecond),
        p50Ms: of((r) => r.p50Ms),
        p99Ms: of((r) => r.p99Ms),
        failures: all.reduce((n, row) => n + row.r.failures, 0),
        generatorCpuPct: of((r) => r.generatorCpuPct),
        serverCpuPct: of((r) => r.serverCpuPct ?? 0),
      },
      toolErrors: all.reduce((n, row) => n + (row.toolErrors ?? 0), 0),
    };
  });
}

function report(rows: Row[], started: Date, loadBefore: number[]): void {
  const find = (name: string) => rows.find((r) => r.name === name)?.r;
  const echo = find('bare Express JSON echo');
  const ratio = (a: number, b: number | undefined) =>
    b && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : '';
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  console.log(
    `\n### Streamable HTTP, ${CONNECTIONS} connections, ${SECONDS} s per row after ${WARMUP_SECONDS} s warm-up, ` +
      `${ROUNDS === 1 ? 'one round' : `median of ${ROUNDS} rounds`}\n\n` +
      `${started.toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · Node ${process.version} · ` +
      `load average before ${load(loadBefore)}, after ${load(loadavg())}\n`,
  );
  console.log(
    table(
      [
        'target',
        'req/s',
        'p50 ms',
        'p99 ms',
        'vs echo',
        'vs bare SDK',
        'p99 vs echo',
        'server CPU',
        'CPU µs/req',
        'CPU vs echo',
        'CPU vs bare SDK',
        'generator CPU',
        'errors',
      ],
      rows.map(({ name, sdk: which, vsSdk, r, toolErrors }) => [
        name,
        Math.round(r.perSecond),
        r.p50Ms,
        r.p99Ms,
        ratio(r.perSecond, echo?.perSecond),
        vsSdk ? ratio(vsSdk.perSecond, 1) : which ? ratio(r.perSecond, find(which)?.perSecond) : '',
        ratio(r.p99Ms, echo?.p99Ms),
        `${Math.round(r.serverCpuPct ?? 0)}%`,
        Math.round(cpuUs(r)),
        // Inverse: how many of this target's calls one core serves per echo call, or per bare SDK call.
        ratio(cpuUs(echo), cpuUs(r)),
        vsSdk ? ratio(vsSdk.cpu, 1) : which ? ratio(cpuUs(find(which)), cpuUs(r)) : '',
        `${Math.round(r.generatorCpuPct)}%`,
        r.failures + (toolErrors ?? 0),
      ]),
    ),
  );
  console.log(
    '\nreq/s and latency are what the machine gave; "CPU vs …" compare the server CPU each call costs ' +
      '(the throughput ratio of servers that each have a core to themselves), which depends far less on ' +
      'what else the machine runs.' +
      (ROUNDS > 1
        ? ' The "vs bare SDK" columns are the median of the rounds\' ratios, not the ratio of the medians.'
        : '') +
      (SIDE_BY_SIDE
        ? ' Side by side: the servers of a mode shared the cores while measured, which inflates every CPU figure alike.'
        : ''),
  );
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  const rounds: Row[][] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-server-'));
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const rows = await round(dir);
      rounds.push(rows);
      if (ROUNDS > 1)
        console.error(
          `round ${i + 1}/${ROUNDS}: ${rows.map((r) => `${r.name} ${Math.round(r.r.perSecond)}/s ${Math.round(cpuUs(r.r))} µs`).join(', ')}`,
        );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = medianRows(rounds);
  report(rows, started, loadBefore);

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
