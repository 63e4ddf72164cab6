/**
 * `npm run stack`: the whole system on this machine without Docker — Kafka (the repo's
 * launcher, unless KAFKA_BROKERS points at one), the MCP server and one worker, all from the
 * built `dist/`. Logs go to this terminal (JSON; pipe through `npx pino-pretty` to read them).
 *
 *   --servers N   N server replicas on ports PORT, PORT+1, …; the worker gets all of them in
 *                 MCP_SERVER_URL and fails over between them. N > 1 needs DATABASE_URL (the
 *                 replicas share one PostgreSQL database; SQLite is one process's file).
 *   --brokers N   N Kafka nodes (RF 3 and min.insync.replicas=2 from 3 on), a throwaway cluster
 *                 under .kafka/run/ (removed at exit; one node keeps its data in STACK_KAFKA_DIR).
 *
 * A part that exits on its own stops the stack — except a server replica when there are two or
 * more: the worker fails over to the others, and the stack restarts the replica (as compose's
 * `restart: unless-stopped` and a Kubernetes Deployment do), after 1 s, doubling up to 30 s while
 * it keeps exiting before it is ready.
 *
 * Stopping: SIGINT (Ctrl-C, which the terminal sends to the whole foreground process group) or
 * SIGTERM, to this process or to the `npm` running it, stops the parts in reverse order of start,
 * each gracefully: the worker finishes its jobs, commits and leaves its consumer group while Kafka
 * is still up (so the next start joins at once), then the server, then Kafka. For that the parts
 * run in process groups of their own — a Ctrl-C reaches only this process, never a part
 * directly — and further signals while stopping are ignored (npm forwards the Ctrl-C it got too).
 *
 * Environment passes through to both services (see README "Configuration"); defaults here:
 * server on 127.0.0.1:8080 with SQLite at ./data/notes.db, worker metrics on :9464,
 * Kafka on 127.0.0.1:${KAFKA_LOCAL_PORT:-9092} with its data and log in
 * ${STACK_KAFKA_DIR:-.kafka/stack}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_HOME, REPO_ROOT, startLocalKafka } from './kafka-local.ts';

const say = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);

let flags: { servers: string; brokers: string };
try {
  ({ values: flags } = parseArgs({
    options: { servers: { type: 'string', default: '1' }, brokers: { type: 'string', default: '1' } },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  say(`${err instanceof Error ? err.message : String(err)} (options: --servers N, --brokers N)`);
  process.exit(2);
}
const serverCount = Number(flags.servers);
const brokerCount = Number(flags.brokers);
for (const [name, n] of [
  ['--servers', serverCount],
  ['--brokers', brokerCount],
] as const) {
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    say(`${name} must be a whole number from 1 to 9`);
    process.exit(2);
  }
}
if (serverCount > 1 && !process.env.DATABASE_URL) {
  say('--servers 2 or more needs DATABASE_URL: the replicas share one PostgreSQL database');
  process.exit(2);
}

for (const entry of ['dist/bin/mcp-server.js', 'dist/bin/kafka-worker.js']) {
  if (!existsSync(join(REPO_ROOT, entry))) {
    say(`${entry} is missing: run 'npm run build' first`);
    process.exit(1);
  }
}

const port = Number(process.env.PORT ?? 8080);
const serverUrls = Array.from({ length: serverCount }, (_, i) => `http://127.0.0.1:${port + i}`);
interface Part {
  name: string;
  child: ChildProcess;
  exited: Promise<unknown>;
  /** Set while a replica that exited waits to be started again. */
  restartTimer?: NodeJS.Timeout;
}
const parts: Part[] = [];
let stopKafka: (() => Promise<void>) | undefined;
let stopping = false;

/** First wait before a replica that exited is started again; doubled while it fails to get ready. */
const RESTART_DELAY_MS = 1_000;
const RESTART_DELAY_MAX_MS = 30_000;

function spawnPart(
  entry: string,
  env: Record<string, string>,
): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [join(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true, // own process group: only this script signals it (see the header)
  });
  return { child, exited: once(child, 'exit') };
}

/** Starts a part whose exit (other than when the stack stops) stops the stack. */
function start(name: string, entry: string, env: Record<string, string>) {
  const part: Part = { name, ...spawnPart(entry, env) };
  part.child.on('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited (${signal ?? code}); stopping the stack`);
    void stop(1);
  });
  parts.push(part);
  say(`${name} started (pid ${part.child.pid})`);
}

/**
 * Starts one of several server replicas and waits for it to be ready. When it exits on its own
 * after that, the worker fails over to the others and the replica is started again after a delay,
 * doubled (to RESTART_DELAY_MAX_MS) each time it exits again before it is ready. A replica that
 * exits before it was ever ready (a port in use, no database) stops the stack, as other parts do.
 */
async function startReplica(name: string, env: Record<string, string>, url: string) {
  const part: Part = { name, ...spawnPart('dist/bin/mcp-server.js', env) };
  parts.push(part);
  let delay = RESTART_DELAY_MS;
  let ready = false;
  let everReady = false;
  const watch = () => {
    say(`${name} started (pid ${part.child.pid})`);
    part.child.once('exit', (code, signal) => {
      if (stopping) return;
      if (!everReady) {
        say(`${name} exited (${signal ?? code}) before it was ready; stopping the stack`);
        void stop(1);
        return;
      }
      delay = ready ? RESTART_DELAY_MS : Math.min(delay * 2, RESTART_DELAY_MAX_MS);
      ready = false;
      say(
        `${name} exited (${signal ?? code}); the worker fails over to the other replicas; restarting it in ${delay / 1000} s`,
      );
      part.restartTimer = setTimeout(() => {
        part.restartTimer = undefined;
        if (stopping) return;
        Object.assign(part, spawnPart('dist/bin/mcp-server.js', env));
        watch();
        waitReady(`${url}/ready`, 30_000, part.child).then(
          (up) => {
            if (!up) return;
            ready = true;
            say(`${name} ready again at ${url}/mcp`);
          },
          (err: unknown) => say(`${name}: ${err instanceof Error ? err.message : String(err)}`),
        );
      }, delay);
    });
  };
  watch();
  everReady = ready = await waitReady(`${url}/ready`, 30_000, part.child);
}

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  for (const part of parts.reverse()) {
    clearTimeout(part.restartTimer);
    const { name, child, exited } = part;
    if (child.exitCode !== null || child.signalCode !== null) continue;
    say(`stopping ${name}`);
    child.kill('SIGTERM');
    await exited;
    say(`${name} stopped (${child.signalCode ?? `exit code ${child.exitCode}`})`);
  }
  if (stopKafka) {
    say('stopping Kafka');
    await stopKafka();
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) say(`${signal}: already stopping`);
    else void stop(0);
  });
}

/**
 * Waits for `url` to answer 200. Returns false when the stack stops or `child` (the part behind
 * the url) exits first; throws when the time runs out.
 */
async function waitReady(url: string, timeoutMs: number, child?: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const gone = () =>
    stopping || (child !== undefined && (child.exitCode !== null || child.signalCode !== null));
  while (Date.now() < deadline && !gone()) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  if (gone()) return false;
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

async function startAll() {
  let brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    const kafkaPort = Number(process.env.KAFKA_LOCAL_PORT ?? 9092);
    const kafkaDir = resolve(process.env.STACK_KAFKA_DIR ?? join(DEFAULT_HOME, 'stack'));
    say(`starting ${brokerCount} Kafka node(s) (the first run downloads the jars with Maven)`);
    const kafka = await startLocalKafka(
      brokerCount === 1
        ? {
            port: kafkaPort,
            dataDir: join(kafkaDir, 'data'),
            logDir: kafkaDir,
            ownProcessGroup: true,
            onProgress: say,
          }
        : { brokers: brokerCount, ownProcessGroup: true, onProgress: say },
    );
    stopKafka = kafka.stop;
    brokers = kafka.brokers.join(',');
  }
  if (stopping) return;

  // What server_initialize children see of this checkout inside the sandbox (as compose lists
  // /app/dist, /app/node_modules, /app/package.json): the built server, its modules and the node
  // running this script — so the README's examples/server-init.json (`node dist/bin/mcp-server.js
  // --stdio`) initializes. Nothing else of the checkout (data/, .kafka/, sources) is visible.
  const sandboxPaths =
    process.env.MCP_INIT_SANDBOX_PATHS ??
    [
      join(REPO_ROOT, 'dist'),
      join(REPO_ROOT, 'node_modules'),
      join(REPO_ROOT, 'package.json'),
      dirname(dirname(realpathSync(process.execPath))),
    ].join(',');
  for (const [i, url] of serverUrls.entries()) {
    const env = { PORT: String(port + i), MCP_INIT_SANDBOX_PATHS: sandboxPaths };
    const name = serverCount === 1 ? 'mcp-server' : `mcp-server-${i + 1}`;
    if (serverCount === 1) {
      start(name, 'dist/bin/mcp-server.js', env);
      await waitReady(`${url}/ready`, 30_000);
    } else {
      await startReplica(name, env, url);
    }
    if (stopping) return;
    say(`${name} ready at ${url}/mcp`);
  }

  const metricsPort = process.env.METRICS_PORT ?? '9464';
  start('kafka-worker', 'dist/bin/kafka-worker.js', {
    KAFKA_BROKERS: brokers,
    MCP_SERVER_URL: process.env.MCP_SERVER_URL ?? serverUrls.join(','),
    METRICS_PORT: metricsPort,
  });
  await waitReady(`http://127.0.0.1:${metricsPort}/ready`, 60_000);
  if (stopping) return;
  say(`kafka-worker ready (metrics at http://127.0.0.1:${metricsPort}/metrics)`);
  say(`send a job: KAFKA_BROKERS=${brokers} npm run enqueue -- --file examples/save-note.json`);
  say(`Ctrl-C (or SIGTERM to pid ${process.pid}) stops everything`);
}

try {
  await startAll();
} catch (err) {
  say(`start failed: ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
}
