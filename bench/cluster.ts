/**
 * Throughput on a 3-node Kafka cluster next to a single broker, in one run: the same
 * end-to-end benchmark (bench/e2e.ts: the no-op ceiling, then 1 and 2 worker processes running
 * save_note jobs through an MCP server process, in the worker's default order — by key — or in
 * BENCH_ORDERING's) first against a 1-node broker, then against a
 * 3-node cluster (replication factor 3, min.insync.replicas=2; every write acks=all). The two
 * run one after the other so they do not compete for the machine's cores.
 *
 *   npm run bench:cluster                      (node bench/cluster.ts)
 *   BENCH_JOBS=3000 node bench/cluster.ts      jobs per row (default 5000)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startLocalKafka } from '../scripts/kafka-local.ts';
import { type E2eRow, table } from './lib.ts';

const JOBS = process.env.BENCH_JOBS ?? '5000';
const REPO = join(import.meta.dirname, '..');

/** Runs bench/e2e.ts against `brokers`; its rows arrive as JSON lines on stderr. */
async function runE2e(brokers: string[]): Promise<E2eRow[]> {
  const child = spawn(process.execPath, [join(REPO, 'bench/e2e.ts')], {
    cwd: REPO,
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      BENCH_JOBS: JOBS,
      BENCH_WORKERS: '1,2',
      BENCH_ORDERING: process.env.BENCH_ORDERING ?? 'key',
      BENCH_STRICT: '0',
      BENCH_DIRECT: '0',
      BENCH_PACED_JOBS: '0',
      BENCH_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const rows: E2eRow[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (line.startsWith('{"scenario"')) rows.push(JSON.parse(line) as E2eRow);
    else process.stderr.write(`  ${line}\n`);
  });
  const [code] = await new Promise<[number | null]>((resolve) => child.on('exit', (c) => resolve([c])));
  if (code !== 0) throw new Error(`bench/e2e.ts exited with ${code}`);
  return rows;
}

const results: Array<{ brokers: number; row: E2eRow }> = [];
for (const size of [1, 3]) {
  const kafka = await startLocalKafka({
    brokers: size,
    onProgress: (line) => process.stderr.write(`[kafka] ${line}\n`),
  });
  try {
    for (const row of await runE2e(kafka.brokers)) results.push({ brokers: size, row });
  } finally {
    await kafka.stop();
  }
}
process.stdout.write(
  `\nsave_note jobs end to end on 1 broker and on 3 (RF 3, min.insync.replicas=2), ${JOBS} jobs per row\n\n`,
);
process.stdout.write(
  `${table(
    ['brokers', 'scenario', 'jobs', 'seconds', 'jobs/s', 'latency p50 ms', 'latency p99 ms'],
    results.map(({ brokers, row }) => [
      brokers,
      row.scenario,
      row.jobs,
      row.seconds,
      row.perSecond,
      row.p50Ms,
      row.p99Ms,
    ]),
  )}\n`,
);
