/**
 * End-to-end throughput and latency of the kafka-worker: N tool-call (save_note) jobs through
 * a real broker → worker process(es) → MCP server process (SQLite) → `<topic>.results`, on a
 * 4-partition topic with distinct keys (key = jobID, as `kafka-worker enqueue` sends them). Next
 * to it, measured in the same run against the same server:
 * - direct (before and after the 1-worker row; ratios use their mean): the bench calls save_note
 *   itself through the worker's own MCP client
 *   (McpJobClient, one session, an idempotency key per call as the worker sends) with as many
 *   calls in flight as one worker allows (partitions × WORKER_JOBS_PER_PARTITION). No Kafka:
 *   the real ceiling of the pipeline on this machine;
 * - no-op consumer: a kafkajs consumer that only resolves and commits offsets (Kafka's ceiling).
 *
 * Protocol, the same for every worker row: consumers/workers start and join first (fresh topic
 * and group per row); then the bench produces all N jobs as fast as it can (batches of 500) and
 * records each job's send time. A job completes when its outcome event is written to
 * `<topic>.results` (the record's timestamp, set by the worker's producer); the bench reads the
 * events only after the row (until then it asks for the topic's end offsets), so no consumer of
 * its own competes with the pipeline for CPU. jobs/s = N / (last completion − first send);
 * latency = completion − send, so under this burst
 * p50/p99 include queueing behind the backlog. The "paced" row sends at a fixed rate below
 * capacity to show latency without a backlog.
 *
 *   npm run bench:e2e                                  (node bench/e2e.ts)
 *   BENCH_JOBS=2000 BENCH_WORKERS=1 node bench/e2e.ts  smaller run
 * Knobs: BENCH_JOBS, BENCH_PARTITIONS, BENCH_WORKERS (worker counts in BENCH_ORDERING mode),
 * BENCH_ORDERING (key), BENCH_JOBS_PER_PARTITION (16), BENCH_STRICT (1: add a 1-worker
 * `partition`-order row), BENCH_DIRECT (1), BENCH_PACED_JOBS (2000), BENCH_PACED_RATE (auto: half the 1-worker burst
 * rate of this run, so the row has no backlog), BENCH_LOG_LEVEL; BENCH_SERVER_NODE_OPTIONS and
 * BENCH_WORKER_NODE_OPTIONS (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof') for the server and the workers.
 * BENCH_COMPARE_WITH=<another checkout> (BENCH_COMPARE_LABEL names it) adds a side-by-side row: two
 * workers in one group at the same time, one from this checkout and one from that (2 partitions
 * each, the same server), and prints each one's CPU per job it handled — a comparison of two
 * workers that the machine's load cannot skew, as it would two runs one after the other.
 * Kafka from KAFKA_BROKERS, else the repo's local launcher.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { findFreePort, startLocalKafka } from '../scripts/kafka-local.ts';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../src/kafka/producer.ts';
import { ensureTopics, workerTopicConfigs } from '../src/kafka/topics.ts';
import { McpJobClient } from '../src/mcp-client/client.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { spawnEntry } from '../test/helpers/processes.ts';
import {
  type CpuGroup,
  cpuPerJob,
  cpuSnapshot,
  type E2eRow,
  percentile,
  pidsListeningOn,
  processCpuMs,
  table,
} from './lib.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const PACED_JOBS = Number(process.env.BENCH_PACED_JOBS ?? 2_000);
/** Jobs/s of the paced row; `auto`: half of what one worker did in the burst row of this run. */
const PACED_RATE = process.env.BENCH_PACED_RATE ?? 'auto';
/** WORKER_ORDERING of the worker-count rows and the paced row. */
const ORDERING = process.env.BENCH_ORDERING ?? 'key';
/** WORKER_JOBS_PER_PARTITION of those rows (the worker's default). */
const PER_PARTITION = Number(process.env.BENCH_JOBS_PER_PARTITION ?? 16);
const STRICT_ROW = process.env.BENCH_STRICT !== '0';
const DIRECT_ROW = process.env.BENCH_DIRECT !== '0';
const REPO = join(import.meta.dirname, '..');
const COMPARE_WITH = process.env.BENCH_COMPARE_WITH;
const COMPARE_LABEL = process.env.BENCH_COMPARE_LABEL ?? COMPARE_WITH;

type Row = E2eRow;
/** One worker of a row: its checkout, the jobs it handled, its CPU over the row (ms). */
interface WorkerShare {
  checkout: string;
  jobs: number;
  cpuMs: number;
}
const CPU_COLUMNS: [CpuGroup, string][] = [
  ['server', 'server CPU ms/job'],
  ['worker', 'worker CPU ms/job'],
  ['broker', 'broker CPU ms/job'],
  ['bench', 'bench CPU ms/job'],
];

let run = 0;
const unique = (p: string) => `bench-${p}-${process.pid}-${++run}`;

async function main() {
  const fromEnv = process.env.KAFKA_BROKERS;
  const local = fromEnv
    ? undefined
    : await startLocalKafka({ onProgress: (l) => process.stderr.write(`[kafka] ${l}\n`) });
  const brokers = fromEnv ?? local!.brokers.join(',');
  // The broker's CPU per job is reported too: the launcher's JVMs, or whatever listens on the
  // KAFKA_BROKERS ports of this machine (none when the broker is elsewhere).
  const brokerPids = local
    ? local.nodes.map((n) => n.pid).filter((pid) => pid !== undefined)
    : pidsListeningOn(
        brokers
          .split(',')
          .filter((b) => /^(127\.0\.0\.1|localhost):/.test(b))
          .map((b) => Number(b.split(':').at(-1))),
      );
  const kafka = new Kafka({ clientId: 'bench-e2e', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
  await producer.connect();

  const dir = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  const port = await findFreePort();
  const server = spawnEntry(
    join(REPO, 'src/bin/mcp-server.ts'),
    [],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      NOTES_DB: join(dir, 'notes.db'),
      LOG_LEVEL: 'warn',
      ...(process.env.BENCH_SERVER_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS }),
    },
    'stdout',
  );
  children.add(server.child);
  await waitHttp(`http://127.0.0.1:${port}/health`);
  const serverUrl = `http://127.0.0.1:${port}`;
  /** The pids each row's CPU is read from (the bench's own process is always read). */
  const cpuGroups = (workers: number[] = []): Partial<Record<CpuGroup, number[]>> => ({
    server: [server.child.pid!],
    broker: brokerPids,
    ...(workers.length > 0 && { worker: workers }),
  });
  process.stderr.write(`broker ${brokers}, server ${serverUrl}, ${JOBS} jobs, ${PARTITIONS} partitions\n`);

  const newTopic = async (prefix: string) => {
    const topic = unique(prefix);
    await ensureTopics(
      admin,
      workerTopicConfigs(
        { topic, dlqTopic: `${topic}.dlq`, resultsTopic: `${topic}.results` },
        { partitions: PARTITIONS, replicationFactor: -1 },
      ),
      silentLogger(),
    );
    return topic;
  };

  /** Sends `count` save_note jobs; returns send time per jobID. `rate` paces them (jobs/s). */
  const produce = async (topic: string, count: number, rate?: number) => {
    const sentAt = new Map<string, number>();
    const batch = rate ? Math.max(1, Math.round(rate / 20)) : 500;
    const started = performance.now();
    for (let i = 0; i < count; i += batch) {
      if (rate) {
        const due = started + (i / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const messages = [];
      const now = performance.now();
      for (let j = i; j < Math.min(count, i + batch); j++) {
        const jobID = `${topic}-${j}`;
        sentAt.set(jobID, now);
        const envelope = {
          jobID,
          jobType: 'tool-call',
          payload: {
            tool: 'save_note',
            arguments: { title: `bench ${jobID}`, content: `note ${j} of the e2e bench` },
          },
        };
        messages.push({ key: jobID, value: JSON.stringify(envelope) });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    return sentAt;
  };

  /**
   * Starts a consumer that records, for each jobID, when it was seen: when the bench received it
   * (`at: 'received'`), or when it was written — the record's timestamp, set by the producer that
   * wrote it (`at: 'written'`, on performance.now()'s clock).
   */
  const observe = async (
    topic: string,
    extractID: (value: string) => string,
    at: 'received' | 'written' = 'received',
    group = unique('observer'),
  ) => {
    const seenAt = new Map<string, number>();
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async ({
        batch,
        resolveOffset,
        commitOffsetsIfNecessary,
        uncommittedOffsets,
        heartbeat,
      }) => {
        const now = performance.now();
        for (const m of batch.messages) {
          const id = extractID(String(m.value));
          const seen = at === 'received' ? now : Number(m.timestamp) - performance.timeOrigin;
          if (!seenAt.has(id) || seen < seenAt.get(id)!) seenAt.set(id, seen);
          resolveOffset(m.offset);
        }
        await commitOffsetsIfNecessary(uncommittedOffsets());
        await heartbeat();
      },
    });
    await until(() => joined, 30_000);
    return { seenAt, stop: () => consumer.disconnect() };
  };

  const summarize = (scenario: string, sentAt: Map<string, number>, seenAt: Map<string, number>): Row => {
    const latencies: number[] = [];
    let last = 0;
    const first = Math.min(...sentAt.values());
    for (const [id, sent] of sentAt) {
      const seen = seenAt.get(id);
      if (seen === undefined) continue;
      latencies.push(seen - sent);
      last = Math.max(last, seen);
    }
    latencies.sort((a, b) => a - b);
    const seconds = (last - first) / 1000;
    return {
      scenario,
      jobs: latencies.length,
      seconds,
      perSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  };

  const rows: Row[] = [];

  // Ceiling: a consumer that only resolves and commits, on the jobs topic itself.
  {
    const topic = await newTopic('ceiling');
    const ceiling = await observe(topic, (v) => (JSON.parse(v) as { jobID: string }).jobID);
    const cpu0 = cpuSnapshot({ broker: brokerPids });
    const sentAt = await produce(topic, JOBS);
    await until(() => ceiling.seenAt.size >= JOBS, 300_000);
    const cpu = cpuPerJob(cpu0, cpuSnapshot({ broker: brokerPids }), JOBS);
    await ceiling.stop();
    rows.push({
      ...summarize('no-op consumer: kafkajs consume + commit only', sentAt, ceiling.seenAt),
      cpuMsPerJob: cpu,
    });
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }

  /** save_note straight to the server through the worker's MCP client, `inFlight` calls at once. */
  const direct = async (calls: number, inFlight: number): Promise<Row> => {
    const client = new McpJobClient({
      serverUrl: serverUrl,
      callTimeoutMs: 60_000,
      logger: silentLogger(),
      reconnect: { initialMs: 100, maxMs: 1_000 },
    });
    await client.connect();
    const run = unique('direct');
    const latencies: number[] = [];
    let next = 0;
    const cpu0 = cpuSnapshot(cpuGroups());
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = next++; i < calls; i = next++) {
          const jobID = `${run}-${i}`;
          const t0 = performance.now();
          await client.callTool(
            'save_note',
            { title: `bench ${jobID}`, content: `note ${i} of the e2e bench` },
            { idempotencyKey: jobID },
          );
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerJob = cpuPerJob(cpu0, cpuSnapshot(cpuGroups()), calls);
    await client.close();
    latencies.sort((a, b) => a - b);
    return {
      scenario: `direct: save_note via the worker's MCP client, ${inFlight} in flight, no Kafka`,
      jobs: calls,
      seconds,
      perSecond: calls / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      cpuMsPerJob,
    };
  };

  const runWorkers = async (
    count: number,
    jobs: number,
    options: { rate?: number; ordering: string; perPartition: number; checkouts?: string[] },
  ): Promise<Row & { perWorker: WorkerShare[] }> => {
    const { rate, ordering, perPartition } = options;
    const checkouts = options.checkouts ?? Array.from({ length: count }, () => REPO);
    const topic = await newTopic(`w${count}`);
    const group = unique('group');
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await findFreePort(ports));
    // Worker logs go to /dev/null: parsing them here would steal CPU from the workers.
    const workers = Array.from({ length: count }, (_, i) =>
      spawnQuiet(join(checkouts[i]!, 'src/bin/kafka-worker.ts'), {
        ...(process.env.BENCH_WORKER_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS }),
        KAFKA_BROKERS: brokers,
        KAFKA_TOPIC: topic,
        MCP_CONSUMER_GROUP: group,
        MCP_SERVER_URL: serverUrl,
        KAFKA_CLIENT_ID: `bench-worker-${i}`,
        METRICS_PORT: String(ports[i]),
        METRICS_HOST: '127.0.0.1',
        WORKER_ORDERING: ordering,
        WORKER_JOBS_PER_PARTITION: String(perPartition),
        LOG_LEVEL,
      }),
    );
    try {
      for (const p of ports) await waitHttp(`http://127.0.0.1:${p}/ready`);
      // Let the group settle (every member joined, partitions spread) before the clock starts.
      await new Promise((r) => setTimeout(r, count > 1 ? 3_000 : 500));
      const workerPids = workers.map((w) => w.child.pid!);
      const cpu0 = cpuSnapshot(cpuGroups(workerPids));
      const workerCpu0 = workerPids.map(processCpuMs);
      const sentAt = await produce(topic, jobs, rate);
      // Done when <topic>.results holds an outcome per job: its end offsets, asked 10 times a
      // second, cost the machine next to nothing, where a consumer reading the events as they
      // come would take CPU from the pipeline it measures (~0.1 ms a job). The events are read
      // afterwards; a job completed when its outcome event was written (the record's timestamp).
      await until(async () => {
        const ends = await admin.fetchTopicOffsets(`${topic}.results`);
        return ends.reduce((n, p) => n + Number(p.high), 0) >= jobs;
      }, 600_000);
      const cpuMsPerJob = cpuPerJob(cpu0, cpuSnapshot(cpuGroups(workerPids)), jobs);
      const workerCpuMs = workerPids.map((pid, i) => processCpuMs(pid) - workerCpu0[i]!);
      const handledBy = new Map<string, string>();
      const results = await observe(
        `${topic}.results`,
        (v) => {
          const event = JSON.parse(v) as { jobID: string; worker: string };
          handledBy.set(event.jobID, event.worker);
          return event.jobID;
        },
        'written',
      );
      try {
        await until(() => results.seenAt.size >= jobs, 120_000);
      } finally {
        await results.stop();
      }
      const handled = [...handledBy.values()];
      const perWorker = workerCpuMs.map((cpuMs, i) => ({
        checkout: checkouts[i]!,
        jobs: handled.filter((w) => w.startsWith(`bench-worker-${i}@`)).length,
        cpuMs,
      }));
      const mode =
        ordering === 'partition' ? 'partition order' : `${ordering} order, ${perPartition} jobs/partition`;
      const label = `${count} worker${count > 1 ? 's' : ''}, ${mode}`;
      return {
        ...summarize(rate ? `${label}, paced at ${rate} jobs/s` : label, sentAt, results.seenAt),
        cpuMsPerJob,
        perWorker,
      };
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
    }
  };

  const inFlight = PARTITIONS * PER_PARTITION;
  const push = (row: Row) => {
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  };
  // The direct ceiling is measured right before AND right after the 1-worker row, and the ratio
  // taken against their mean: on a shared machine the load drifts between rows.
  const directRows: Row[] = [];
  if (DIRECT_ROW) {
    // Warm-up: JIT, SQLite pages, the session. As many calls as a measured row: after only 1,000,
    // the first direct row still ran 25–90% below the second in three runs of 27 Nov (1,615 vs
    // 2,397, 1,619 vs 1,861, 1,242 vs 2,358 calls/s), which flattered the "vs direct" ratio.
    await direct(JOBS, inFlight);
    directRows.push(await direct(JOBS, inFlight));
    push(directRows[0]!);
  }
  for (const count of WORKER_COUNTS) {
    push(await runWorkers(count, JOBS, { ordering: ORDERING, perPartition: PER_PARTITION }));
    if (count === 1 && DIRECT_ROW) {
      const again = await direct(JOBS, inFlight);
      again.scenario = `${again.scenario}, again`;
      directRows.push(again);
      push(again);
    }
  }
  let sideBySide: WorkerShare[] = [];
  if (COMPARE_WITH) {
    const row = await runWorkers(2, JOBS, {
      ordering: ORDERING,
      perPartition: PER_PARTITION,
      checkouts: [REPO, COMPARE_WITH],
    });
    row.scenario = `2 workers side by side: this checkout + ${COMPARE_LABEL}`;
    push(row);
    sideBySide = row.perWorker;
  }
  if (STRICT_ROW && ORDERING !== 'partition') {
    push(await runWorkers(1, JOBS, { ordering: 'partition', perPartition: 1 }));
  }
  if (PACED_JOBS > 0) {
    const burst = rows.find((r) => r.scenario.startsWith(`1 worker, ${ORDERING} order`));
    const rate =
      PACED_RATE === 'auto' ? Math.max(10, Math.round((burst?.perSecond ?? 600) / 2)) : Number(PACED_RATE);
    rows.push(await runWorkers(1, PACED_JOBS, { rate, ordering: ORDERING, perPartition: PER_PARTITION }));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }

  const ceilingRate = rows[0]!.perSecond;
  const directRate =
    directRows.length === 0 ? undefined : directRows.reduce((n, r) => n + r.perSecond, 0) / directRows.length;
  process.stdout.write(
    `\nCPU columns: each process group's user + system CPU over the row (from /proc), per job; "bench" is this process (the producer, and in a direct row the MCP client)${brokerPids.length === 0 ? '; no broker process found on this machine' : ''}.\n`,
  );
  process.stdout.write(
    `\nkafka-worker end to end: tool-call save_note jobs, ${PARTITIONS} partitions, distinct keys, MCP server over Streamable HTTP (SQLite)\n\n`,
  );
  process.stdout.write(
    `${table(
      [
        'scenario',
        'jobs',
        'seconds',
        'jobs/s',
        'vs direct (mean)',
        'vs no-op consumer',
        'latency p50 ms',
        'latency p99 ms',
        ...CPU_COLUMNS.map(([, title]) => title),
        'CPU ms/job, all',
      ],
      rows.map((r) => [
        r.scenario,
        r.jobs,
        r.seconds,
        r.perSecond,
        directRate === undefined ? '-' : `${(r.perSecond / directRate).toFixed(2)}×`,
        `${((100 * r.perSecond) / ceilingRate).toFixed(1)}%`,
        r.p50Ms,
        r.p99Ms,
        ...CPU_COLUMNS.map(([group]) => r.cpuMsPerJob?.[group] ?? '-'),
        Object.values(r.cpuMsPerJob ?? {}).reduce((a, b) => a + b, 0),
      ]),
    )}\n`,
  );
  if (sideBySide.length === 2) {
    const [ours, theirs] = sideBySide as [WorkerShare, WorkerShare];
    const perJob = (w: WorkerShare) => w.cpuMs / Math.max(1, w.jobs);
    process.stdout.write(
      `\nside by side, the same moment (one group, ${PARTITIONS / 2} partitions each, one server): worker CPU per job it handled\n\n${table(
        ['worker', 'jobs handled', 'CPU ms', 'CPU ms/job', 'vs this checkout'],
        [
          ['this checkout', ours.jobs, ours.cpuMs, perJob(ours), '1.00×'],
          [
            COMPARE_LABEL!,
            theirs.jobs,
            theirs.cpuMs,
            perJob(theirs),
            `${(perJob(theirs) / perJob(ours)).toFixed(2)}×`,
          ],
        ],
      )}\n`,
    );
  }
  const main = rows.find(
    (r) => r.scenario.startsWith(`1 worker, ${ORDERING} order`) && !r.scenario.includes('paced'),
  );
  if (main !== undefined && directRate !== undefined) {
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    process.stdout.write(
      `\ntargets (1 worker, ${ORDERING} order): ≥ 1000 jobs/s — ${verdict(main.perSecond >= 1_000)} (${main.perSecond.toFixed(0)}); ` +
        `≥ 0.8× direct (mean of both direct rows) at ${inFlight} in flight — ${verdict(main.perSecond >= 0.8 * directRate)} (${(main.perSecond / directRate).toFixed(2)}×)\n`,
    );
  }

  server.child.kill('SIGTERM');
  await server.exited;
  await producer.disconnect();
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
  await local?.stop();
}

/** Every child process, killed when the bench exits, whatever way it exits. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function spawnQuiet(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [entry], {
    cwd: join(dirname(entry), '../..'),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  return { child, exited: once(child, 'exit') };
}

/** Polls `check` (every 20 ms, or 100 ms when it asks the broker) until it holds. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = check();
    if (typeof result === 'boolean' ? result : await result) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, typeof result === 'boolean' ? 20 : 100));
  }
}

async function waitHttp(url: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/e2e: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
