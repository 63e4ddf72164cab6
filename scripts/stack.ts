/**
 * `npm run stack`: the whole system on this machine without Docker — a single-node Kafka
 * (the repo's launcher, unless KAFKA_BROKERS points at one), the MCP server and one worker,
 * all from the built `dist/`. Logs of all three go to this terminal (JSON; pipe through
 * `npx pino-pretty` to read them). Ctrl-C stops them in reverse order of start.
 *
 * Environment passes through to both services (see README "Configuration"); defaults here:
 * server on 127.0.0.1:8080 with SQLite at ./data/notes.db, worker metrics on :9464,
 * Kafka on 127.0.0.1:${KAFKA_LOCAL_PORT:-9092} with its data in .kafka/stack/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_HOME, REPO_ROOT, startLocalKafka } from './kafka-local.ts';

const say = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);

for (const entry of ['dist/bin/mcp-server.js', 'dist/bin/kafka-worker.js']) {
  if (!existsSync(join(REPO_ROOT, entry))) {
    say(`${entry} is missing: run 'npm run build' first`);
    process.exit(1);
  }
}

const port = process.env.PORT ?? '8080';
const serverUrl = `http://127.0.0.1:${port}`;
const children: Array<{ name: string; child: ChildProcess }> = [];
let stopKafka: (() => Promise<void>) | undefined;

function start(name: string, entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping the stack`);
      void stop(1);
    }
  });
  children.push({ name, child });
  return child;
}

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  for (const { name, child } of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    say(`stopping ${name}`);
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  if (stopKafka) {
    say('stopping Kafka');
    await stopKafka();
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function waitReady(url: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

let brokers = process.env.KAFKA_BROKERS;
if (!brokers) {
  const kafkaPort = Number(process.env.KAFKA_LOCAL_PORT ?? 9092);
  say(`starting Kafka on 127.0.0.1:${kafkaPort} (first run downloads its jars with Maven)`);
  const kafka = await startLocalKafka({
    port: kafkaPort,
    dataDir: join(DEFAULT_HOME, 'stack', 'data'),
    logDir: join(DEFAULT_HOME, 'stack'),
  });
  stopKafka = kafka.stop;
  brokers = kafka.brokers.join(',');
  say(`Kafka ${kafka.version} ready at ${brokers} (log: ${kafka.logFile})`);
}

start('mcp-server', 'dist/bin/mcp-server.js', { PORT: port });
await waitReady(`${serverUrl}/ready`, 30_000);
say(`mcp-server ready at ${serverUrl}/mcp`);

const metricsPort = process.env.METRICS_PORT ?? '9464';
start('kafka-worker', 'dist/bin/kafka-worker.js', {
  KAFKA_BROKERS: brokers,
  MCP_SERVER_URL: process.env.MCP_SERVER_URL ?? serverUrl,
  METRICS_PORT: metricsPort,
});
await waitReady(`http://127.0.0.1:${metricsPort}/ready`, 60_000);
say(`kafka-worker ready (metrics at http://127.0.0.1:${metricsPort}/metrics)`);
say(`send a job: KAFKA_BROKERS=${brokers} npm run enqueue -- --file examples/save-note.json`);
say('Ctrl-C stops everything');
