/** Small measuring helpers shared by the benchmarks: closed-loop load, percentiles, tables, CPU per process. */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface LoadResult {
  calls: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Runs `concurrency` closed loops of `op` for `durationMs` after `warmupMs`, and reports
 * throughput and latency of the measured window.
 */
export async function closedLoop(
  concurrency: number,
  op: (worker: number, i: number) => Promise<unknown>,
  options: { durationMs: number; warmupMs: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        try {
          await op(worker, i);
        } catch {
          if (t0 >= measureFrom) errors++;
          continue;
        }
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const seconds = options.durationMs / 1000;
  return {
    calls: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join(
    '\n',
  );
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n)) return String(n);
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** One row of bench/e2e.ts (also printed by it as a JSON line on stderr, which bench/cluster.ts reads). */
export interface E2eRow {
  scenario: string;
  jobs: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time each process group used over the row, in ms per job (see cpuPerJob). */
  cpuMsPerJob?: Partial<Record<CpuGroup, number>>;
}

/** The processes whose CPU bench/e2e.ts accounts for: the bench's own (producer, direct client) included. */
export type CpuGroup = 'server' | 'worker' | 'broker' | 'bench';

/** utime + stime of a process, in ms (Linux /proc); 0 once it is gone. */
export function processCpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5) are utime and stime in clock ticks; after the ')' they are 12th and 13th.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
}
/** sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** CPU ms of each group of pids (`bench`: this process) right now; diff two with cpuPerJob. */
export function cpuSnapshot(groups: Partial<Record<CpuGroup, number[]>>): Partial<Record<CpuGroup, number>> {
  const snap: Partial<Record<CpuGroup, number>> = {};
  for (const [group, pids] of Object.entries(groups) as [CpuGroup, number[]][]) {
    snap[group] = pids.reduce((ms, pid) => ms + processCpuMs(pid), 0);
  }
  const own = process.cpuUsage();
  snap.bench = (own.user + own.system) / 1000;
  return snap;
}

/** ms of CPU per job of each group between two snapshots. */
export function cpuPerJob(
  before: Partial<Record<CpuGroup, number>>,
  after: Partial<Record<CpuGroup, number>>,
  jobs: number,
): Partial<Record<CpuGroup, number>> {
  const out: Partial<Record<CpuGroup, number>> = {};
  for (const group of Object.keys(after) as CpuGroup[]) {
    out[group] = ((after[group] ?? 0) - (before[group] ?? 0)) / jobs;
  }
  return out;
}

/**
 * Pids of the processes that listen on any of `ports` on this machine (Linux /proc): how the
 * bench finds a broker it did not start (KAFKA_BROKERS). Sockets it cannot read are skipped.
 */
export function pidsListeningOn(ports: number[]): number[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is field 10.
      if (f.length > 9 && f[3] === '0A' && ports.includes(Number.parseInt(f[1]!.split(':')[1]!, 16))) {
        inodes.add(f[9]!);
      }
    }
  }
  const pids: number[] = [];
  if (inodes.size === 0) return pids;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}
