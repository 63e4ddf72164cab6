/**
 * Deployment smoke test: the processes the containers run, configured exactly as
 * docker-compose.yml configures them, against the test run's real Kafka and PostgreSQL.
 *
 * What mirrors the images: an app directory laid out like the images' /app — `dist/` compiled
 * by tsc from src/ (tsconfig.build.json, as the build stage does), `node_modules` holding only
 * the production dependencies (the packages package-lock.json does not mark dev, copied from
 * the installed tree: the same set `npm ci --omit=dev` installs, without the network), the
 * package.json and examples/. Each service starts with the argv of its Dockerfile ENTRYPOINT,
 * the ENV of its Dockerfile, then the `environment` of its compose service; the only changes
 * are addresses (compose service hosts → the test's Kafka, PostgreSQL and free local ports,
 * bind addresses → 127.0.0.1, /app → the app directory) and per-run topic and group names on
 * the shared broker. Docker secrets are mounted as Compose mounts them — each secret a service
 * lists, from its top-level `file:`, at its target — except that /run/secrets/ is a temporary
 * directory (the *_FILE variables are pointed there) and the database URL is the test's. The topics are created as the compose `kafka-init` step creates them,
 * readiness is awaited with the compose healthcheck commands themselves, and the sample jobs
 * go in through the worker image's own `enqueue --file examples/…`, as the README says.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  COMPOSE_FILE,
  COMPOSE_SECRETS_MOUNT,
  composeEnvironment,
  composeSecretMounts,
  composeService,
  type Doc,
  interpolate,
  REPO,
  readYamlDocuments,
} from '../helpers/deploy.ts';
import { connectStreamable } from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const compose = readYamlDocuments(COMPOSE_FILE)[0] as Doc;
const service = (name: string): Doc => composeService(compose, name);

interface Proc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** The final stage of a Dockerfile: ENTRYPOINT argv (tini dropped) and ENV. */
function imageRecipe(dockerfile: string): { argv: string[]; env: Record<string, string> } {
  const text = readFileSync(resolve(REPO, dockerfile), 'utf8').replace(/\\\n/g, ' ');
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(finalStage)?.[1];
  if (!entrypoint) throw new Error(`${dockerfile}: no exec-form ENTRYPOINT`);
  let argv = JSON.parse(entrypoint) as string[];
  if (argv[0]?.endsWith('/tini')) argv = argv.slice(argv.indexOf('--') + 1);
  const env: Record<string, string> = {};
  for (const [, args] of finalStage.matchAll(/^ENV\s+(.*)$/gm)) {
    for (const [, k, v] of (args ?? '').matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[k as string] = v as string;
  }
  return { argv, env };
}

/** Compiles src/ and lays out an /app-like directory with production dependencies only. */
function buildApp(appDir: string) {
  const tsc = resolve(REPO, 'node_modules/.bin/tsc');
  const build = spawnSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', join(appDir, 'dist')], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`tsc failed:\n${build.stdout}${build.stderr}`);
  const lock = JSON.parse(readFileSync(resolve(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Top-level packages only; nested node_modules come along inside their parent.
    if (!path.startsWith('node_modules/') || path.indexOf('node_modules/', 1) !== -1 || entry.dev) continue;
    if (existsSync(resolve(REPO, path))) cpSync(resolve(REPO, path), join(appDir, path), { recursive: true });
  }
  cpSync(resolve(REPO, 'package.json'), join(appDir, 'package.json'));
  cpSync(resolve(REPO, 'examples'), join(appDir, 'examples'), { recursive: true });
  mkdirSync(join(appDir, 'data'));
  mkdirSync(join(appDir, 'init-env'));
}

function start(argv: string[], cwd: string, env: Record<string, string>): Proc {
  const [command, ...args] = argv;
  const child = spawn(command === 'node' ? process.execPath : (command as string), args, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream }).on('line', (l) => lines.push(l));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, lines, exited };
}

/** Runs a compose healthcheck `test` (CMD form) until it exits 0. */
async function waitHealthy(
  test: string[],
  env: Record<string, string>,
  cwd: string,
  what: string,
  proc: Proc,
) {
  if (test[0] !== 'CMD') throw new Error(`${what}: healthcheck is not in CMD form`);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited:\n${proc.lines.slice(-20).join('\n')}`);
    const [command, ...args] = test.slice(1);
    const run = spawnSync(command === 'node' ? process.execPath : (command as string), args, {
      cwd,
      env,
      timeout: 5_000,
    });
    if (run.status === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} never became healthy:\n${proc.lines.slice(-20).join('\n')}`);
}

async function stop(proc: Proc | undefined, graceMs: number): Promise<number | null> {
  if (!proc || proc.child.exitCode !== null) return proc?.child.exitCode ?? null;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

describe('deployment smoke: compose configuration, built dist/, production dependencies', () => {
  const brokers = inject('kafkaBrokers');
  const run = randomUUID().slice(0, 8);
  const topic = `deploy-smoke-${run}`;
  const group = `deploy-smoke-${run}`;
  let appDir: string;
  /** Stands in for /run/secrets/ (one directory per service). */
  let secretsDir: string;
  let db: TestDatabase;
  let server: Proc | undefined;
  let worker: Proc | undefined;
  let serverEnv: Record<string, string>;
  let workerEnv: Record<string, string>;
  let serverPort: number;
  const kafka = new Kafka({
    clientId: 'deploy-smoke',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();

  /**
   * The service's compose secrets as files under `<secretsDir>/<service>/`, in place of
   * /run/secrets/: each with its `file:` content, or `contents[secret]`. Returns container path → local path.
   */
  function mountSecrets(name: string, contents: Record<string, string>): Map<string, string> {
    const mounts = composeSecretMounts(compose, name);
    for (const secret of Object.keys(contents)) {
      if (!mounts.some((m) => m.name === secret))
        throw new Error(`compose service ${name} mounts no secret ${secret}`);
    }
    const paths = new Map<string, string>();
    for (const mount of mounts) {
      const local = join(secretsDir, name, relative(COMPOSE_SECRETS_MOUNT, mount.target));
      mkdirSync(dirname(local), { recursive: true });
      writeFileSync(local, contents[mount.name] ?? readFileSync(mount.source), { mode: 0o600 });
      paths.set(mount.target, local);
    }
    return paths;
  }

  /** Compose env (interpolated with its local defaults) with addresses and secret mounts made local. */
  function localEnv(
    name: string,
    overrides: Record<string, string>,
    secretContents: Record<string, string> = {},
  ): Record<string, string> {
    const secrets = mountSecrets(name, secretContents);
    const env = Object.fromEntries(
      Object.entries(composeEnvironment(compose, name)).map(([k, v]) => {
        const value = interpolate(v);
        if (!value.startsWith(`${COMPOSE_SECRETS_MOUNT}/`)) return [k, value];
        const local = secrets.get(value);
        if (!local) throw new Error(`${name} ${k}=${value}: no secret of the service is mounted there`);
        return [k, local];
      }),
    );
    for (const key of Object.keys(overrides)) {
      if (!(key in env)) throw new Error(`override ${key} is not set by compose service ${name}`);
    }
    const image = imageRecipe(String((service(name).build as Doc).dockerfile));
    return {
      // What the image's OS provides: PATH (with this Node first, as `node` is in the image) and HOME.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: appDir,
      ...image.env,
      ...env,
      ...overrides,
    };
  }

  beforeAll(async () => {
    appDir = mkdtempSync(join(tmpdir(), 'deploy-smoke-app-'));
    secretsDir = mkdtempSync(join(tmpdir(), 'deploy-smoke-secrets-'));
    // As in the image, /app is readable by others (the sandbox runs server_initialize children as 65534).
    chmodSync(appDir, 0o755);
    buildApp(appDir);
    db = await createTestDatabase(inject('databaseUrl'));
    serverPort = await freePort();
    const metricsPort = await freePort();

    serverEnv = localEnv(
      'mcp-server',
      {
        HOST: '127.0.0.1',
        PORT: String(serverPort),
        // MCP Tasks over Kafka: the test's broker, this run's topic and outcomes group.
        KAFKA_BROKERS: brokers,
        KAFKA_TOPIC: topic,
        MCP_TASKS_CONSUMER_GROUP: `${group}-tasks`,
        MCP_INIT_ENV_DIR: join(appDir, 'init-env'),
        // The image's /app paths, and the node that stands in for the image's.
        MCP_INIT_SANDBOX_PATHS: [
          ...(composeEnvironment(compose, 'mcp-server').MCP_INIT_SANDBOX_PATHS ?? '')
            .split(',')
            .map((p) => p.replace(/^\/app\//, `${appDir}/`)),
          dirname(dirname(realpathSync(process.execPath))),
        ].join(','),
      },
      // The compose database URL names the `postgres` service; this run's database stands in.
      { database_url: db.url },
    );
    const composeTopic = composeEnvironment(compose, 'kafka-worker').KAFKA_TOPIC as string;
    workerEnv = localEnv('kafka-worker', {
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      MCP_CONSUMER_GROUP: group,
      MCP_SERVER_URL: `http://127.0.0.1:${serverPort}`,
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
    });

    // The compose kafka-init step: the topics and partition counts it lists, under this run's name.
    await admin.connect();
    const script = (service('kafka-init').command as string[]).join('\n');
    const specs = (/for spec in ([^;]+);/.exec(script)?.[1] ?? '').trim().split(/\s+/);
    await admin.createTopics({
      waitForLeaders: true,
      topics: specs.map((spec) => {
        const [name = '', partitions] = spec.split(':');
        return {
          topic: name.replace(composeTopic, topic),
          numPartitions: Number(partitions),
          replicationFactor: 1,
        };
      }),
    });

    const serverImage = imageRecipe('Dockerfile.server');
    server = start(serverImage.argv, appDir, serverEnv);
    const serverCheck = (service('mcp-server').healthcheck as { test: string[] }).test.map((a) =>
      a.replace(':8080/', `:${serverPort}/`),
    );
    await waitHealthy(serverCheck, serverEnv, appDir, 'mcp-server', server);

    const workerImage = imageRecipe('Dockerfile.worker');
    worker = start(workerImage.argv, appDir, workerEnv);
    const workerCheck = (service('kafka-worker').healthcheck as { test: string[] }).test.map((a) =>
      a.replace(':9464/', `:${metricsPort}/`),
    );
    await waitHealthy(workerCheck, workerEnv, appDir, 'kafka-worker', worker);
  }, 240_000);

  afterAll(async () => {
    await stop(worker, 5_000);
    await stop(server, 5_000);
    await admin.deleteTopics({ topics: [topic, `${topic}.dlq`, `${topic}.results`] }).catch(() => {});
    await admin.disconnect().catch(() => {});
    await db?.drop().catch(() => {});
    if (appDir) rmSync(appDir, { recursive: true, force: true });
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  it('runs the sample server-init and save-note jobs end to end and reports both on <topic>.results', async () => {
    const workerImage = imageRecipe('Dockerfile.worker');
    const jobIDs: string[] = [];
    for (const file of ['examples/server-init.json', 'examples/save-note.json']) {
      jobIDs.push((JSON.parse(readFileSync(join(appDir, file), 'utf8')) as { jobID: string }).jobID);
      const enqueue = start([...workerImage.argv, 'enqueue', '--file', file], appDir, workerEnv);
      expect(await enqueue.exited, enqueue.lines.join('\n')).toBe(0);
    }

    const outcomes = new Map<string, Record<string, unknown>>();
    const consumer = kafka.consumer({ groupId: `${group}-results` });
    await consumer.connect();
    await consumer.subscribe({ topics: [`${topic}.results`], fromBeginning: true });
    const done = new Promise<void>((resolveDone) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const event = JSON.parse(message.value?.toString() ?? '{}') as Record<string, unknown>;
          outcomes.set(String(event.jobID), event);
          if (jobIDs.every((id) => outcomes.has(id))) resolveDone();
        },
      });
    });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () =>
          reject(
            new Error(
              `outcomes seen: ${[...outcomes.keys()]}; worker:\n${worker?.lines.slice(-30).join('\n')}`,
            ),
          ),
        120_000,
      ).unref(),
    );
    try {
      await Promise.race([done, timeout]);
    } finally {
      await consumer.disconnect();
    }

    const init = outcomes.get(jobIDs[0] as string);
    expect(init, JSON.stringify(init)).toMatchObject({ jobType: 'server-init', status: 'succeeded' });
    const result = init?.result as { servers?: Array<{ name: string; tools: string[] }> } | undefined;
    const servers = result?.servers ?? [];
    expect(servers[0]?.name).toBe('mcp-hybrid-notes');
    expect(servers[0]?.tools).toEqual(
      expect.arrayContaining(['save_note', 'read_note', 'server_initialize']),
    );
    const save = outcomes.get(jobIDs[1] as string);
    expect(save, JSON.stringify(save)).toMatchObject({ jobType: 'tool-call', status: 'succeeded' });

    // Nothing dead-lettered, and the note is in PostgreSQL, as a client of the server sees it.
    const dlq = await admin.fetchTopicOffsets(`${topic}.dlq`);
    expect(dlq.every((p) => p.high === '0')).toBe(true);
    // The token as the worker has it: from its own mount of the mcp_auth_token secret.
    const token = readFileSync(workerEnv.MCP_AUTH_TOKEN_FILE as string, 'utf8').trim();
    const { client } = await connectStreamable(`http://127.0.0.1:${serverPort}`, {
      Authorization: `Bearer ${token}`,
    });
    try {
      const read = await call(client, 'read_note', { title: 'Kafka worker' });
      expect(read.isError).toBeFalsy();
      expect(textOf(read)).toContain('Saved by a tool-call job');
    } finally {
      await client.close();
    }

    // Every worker log line of a job carries its jobID (pino JSON on stdout).
    const jobLines = (worker?.lines ?? [])
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => jobIDs.includes(String(l.jobID)));
    expect(jobLines.length).toBeGreaterThan(0);
  }, 180_000);

  it('serves /metrics with the documented series on both services', async () => {
    const serverMetrics = await (await fetch(`http://127.0.0.1:${serverPort}/metrics`)).text();
    for (const name of ['mcp_http_requests_total', 'mcp_tool_calls_total', 'mcp_tool_duration_seconds']) {
      expect(serverMetrics).toContain(name);
    }
    const workerMetrics = await (await fetch(`http://127.0.0.1:${workerEnv.METRICS_PORT}/metrics`)).text();
    for (const name of [
      'kafka_worker_jobs_total',
      'kafka_worker_job_duration_seconds',
      'kafka_worker_consumer_lag',
    ]) {
      expect(workerMetrics).toContain(name);
    }
  });

  it('stops both services cleanly on SIGTERM within their grace periods', async () => {
    const workerGraceMs = 45_000; // docker-compose.yml stop_grace_period of kafka-worker
    expect(String(service('kafka-worker').stop_grace_period)).toBe('45s');
    expect(await stop(worker, workerGraceMs)).toBe(0);
    expect(await stop(server, 10_000)).toBe(0); // compose's default stop grace period
  }, 70_000);
});
