/**
 * End-to-end throughput and latency of the kafka-worker: N tool-call (save_note) jobs through
 * a real broker → worker process(es) → MCP server process (SQLite) → `<topic>.results`, with 1
 * and 2 workers on a 4-partition topic; next to the ceiling measured in the same run on the
 * same broker: a kafkajs consumer that does nothing but resolve and commit offsets.
 *
 * Protocol, the same for every row: consumers/workers start and join first (fresh topic and
 * group per row); then the bench produces all N jobs as fast as it can (batches of 500) and
 * records each job's send time. A job completes when its outcome event reaches the bench (for
 * the ceiling: when the consumer sees it). jobs/s = N / (last completion − first send);
 * latency = completion − send, so under this burst p50/p99 include queueing behind the backlog.
 * The "paced" row sends at a fixed rate below capacity to show latency without a backlog.
 *
 *   npm run bench:e2e                                  (node bench/e2e.ts)
 *   BENCH_JOBS=2000 BENCH_WORKERS=1 node bench/e2e.ts  smaller run
 * Kafka from KAFKA_BROKERS, else the repo's local launcher. Worker logs: BENCH_LOG_LEVEL (info).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { findFreePort, startLocalKafka } from '../scripts/kafka-local.ts';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../src/kafka/producer.ts';
import { ensureTopics, workerTopicConfigs } from '../src/kafka/topics.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { spawnEntry } from '../test/helpers/processes.ts';
import { type E2eRow, percentile, table } from './lib.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const PACED_JOBS = Number(process.env.BENCH_PACED_JOBS ?? 2_000);
const PACED_RATE = Number(process.env.BENCH_PACED_RATE ?? 300);
/** WORKER_JOBS_PER_PARTITION for the extra "overlapped" rows; 1 skips them. */
const PIPELINE = Number(process.env.BENCH_JOBS_PER_PARTITION ?? 8);
const REPO = join(import.meta.dirname, '..');

type Row = E2eRow;

let run = 0;
const unique = (p: string) => `bench-${p}-${process.pid}-${++run}`;

async function main() {
  const fromEnv = process.env.KAFKA_BROKERS;
  const local = fromEnv
    ? undefined
    : await startLocalKafka({ onProgress: (l) => process.stderr.write(`[kafka] ${l}\n`) });
  const brokers = fromEnv ?? local!.brokers.join(',');
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
    { PORT: String(port), HOST: '127.0.0.1', NOTES_DB: join(dir, 'notes.db'), LOG_LEVEL: 'warn' },
    'stdout',
  );
  children.add(server.child);
  await waitHttp(`http://127.0.0.1:${port}/health`);
  const serverUrl = `http://127.0.0.1:${port}`;
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

  /** Starts a consumer that records when each jobID is seen (results events or raw jobs). */
  const observe = async (topic: string, extractID: (value: string) => string, group = unique('observer')) => {
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
          if (!seenAt.has(id)) seenAt.set(id, now);
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
    const sentAt = await produce(topic, JOBS);
    await until(() => ceiling.seenAt.size >= JOBS, 300_000);
    await ceiling.stop();
    rows.push(summarize('ceiling: kafkajs consume + commit only', sentAt, ceiling.seenAt));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }

  const runWorkers = async (
    count: number,
    jobs: number,
    options: { rate?: number; perPartition?: number } = {},
  ) => {
    const { rate, perPartition = 1 } = options;
    const topic = await newTopic(`w${count}`);
    const group = unique('group');
    const results = await observe(`${topic}.results`, (v) => (JSON.parse(v) as { jobID: string }).jobID);
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await findFreePort(ports));
    // Worker logs go to /dev/null: parsing them here would steal CPU from the workers.
    const workers = Array.from({ length: count }, (_, i) =>
      spawnQuiet(join(REPO, 'src/bin/kafka-worker.ts'), {
        ...(process.env.BENCH_WORKER_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS }),
        KAFKA_BROKERS: brokers,
        KAFKA_TOPIC: topic,
        MCP_CONSUMER_GROUP: group,
        MCP_SERVER_URL: serverUrl,
        KAFKA_CLIENT_ID: `bench-worker-${i}`,
        METRICS_PORT: String(ports[i]),
        METRICS_HOST: '127.0.0.1',
        WORKER_JOBS_PER_PARTITION: String(perPartition),
        LOG_LEVEL,
      }),
    );
    try {
      for (const p of ports) await waitHttp(`http://127.0.0.1:${p}/ready`);
      // Let the group settle (every member joined, partitions spread) before the clock starts.
      await new Promise((r) => setTimeout(r, count > 1 ? 3_000 : 500));
      const sentAt = await produce(topic, jobs, rate);
      await until(() => results.seenAt.size >= jobs, 600_000);
      const label = `${count} worker${count > 1 ? 's' : ''}${perPartition > 1 ? `, ${perPartition} jobs/partition overlapped` : ', strict order'}`;
      return summarize(rate ? `${label}, paced at ${rate} jobs/s` : label, sentAt, results.seenAt);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      await results.stop();
    }
  };

  for (const count of WORKER_COUNTS) {
    rows.push(await runWorkers(count, JOBS));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
  if (PIPELINE > 1) {
    for (const count of WORKER_COUNTS) {
      rows.push(await runWorkers(count, JOBS, { perPartition: PIPELINE }));
      process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
    }
  }
  if (PACED_JOBS > 0) {
    rows.push(await runWorkers(1, PACED_JOBS, { rate: PACED_RATE }));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }

  const ceilingRate = rows[0]!.perSecond;
  process.stdout.write(
    `\nkafka-worker end to end: tool-call save_note jobs, ${PARTITIONS} partitions, MCP server over Streamable HTTP (SQLite)\n\n`,
  );
  process.stdout.write(
    `${table(
      ['scenario', 'jobs', 'seconds', 'jobs/s', '% of ceiling', 'latency p50 ms', 'latency p99 ms'],
      rows.map((r) => [
        r.scenario,
        r.jobs,
        r.seconds,
        r.perSecond,
        `${((100 * r.perSecond) / ceilingRate).toFixed(1)}%`,
        r.p50Ms,
        r.p99Ms,
      ]),
    )}\n`,
  );

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
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  return { child, exited: once(child, 'exit') };
}

async function until(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
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
