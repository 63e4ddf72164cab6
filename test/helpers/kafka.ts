/**
 * Kafka for tests and benchmarks, acquired once per run (test/helpers/global-setup.ts):
 * 1. `KAFKA_BROKERS` when set (CI, a broker you run yourself); stop() leaves it alone;
 * 2. an `apache/kafka:<pinned version>` container when a Docker engine answers — probed by
 *    pinging the engine's socket, so a machine without Docker pays nothing (no socket, no
 *    DOCKER_HOST: no probe at all; otherwise at most DOCKER_PROBE_TIMEOUT_MS);
 * 3. otherwise the repo's launcher (scripts/kafka-local.ts): a real broker from Maven Central
 *    jars on free ports, its data under `.kafka/run/`, removed again by stop().
 * All three run the same version (scripts/kafka/pom.xml) and the same broker settings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  BROKER_SETTINGS,
  findFreePort,
  readPinnedKafkaVersion,
  startLocalKafka,
} from '../../scripts/kafka-local.ts';

export interface AcquiredKafka {
  /** host:port bootstrap addresses. */
  brokers: string[];
  stop(): Promise<void>;
}

const DOCKER_PROBE_TIMEOUT_MS = 1_000;

export async function acquireKafka(
  env: Record<string, string | undefined> = process.env,
): Promise<AcquiredKafka> {
  const fromEnv = env.KAFKA_BROKERS?.split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  if (fromEnv?.length) return { brokers: fromEnv, stop: async () => {} };
  if (await dockerEngineAnswers(env)) return startContainer();
  const kafka = await startLocalKafka({
    onProgress: (line) => process.stderr.write(`[kafka-local] ${line}\n`),
  });
  return { brokers: kafka.brokers, stop: kafka.stop };
}

/**
 * Cheap and bounded: pings the Docker API's `/_ping` on the socket testcontainers would use.
 * Endpoints this cannot ping itself (TLS, ssh, a testcontainers.properties override) are left to
 * testcontainers, since whoever configured them evidently has an engine.
 */
async function dockerEngineAnswers(env: Record<string, string | undefined>): Promise<boolean> {
  const dockerHost = env.DOCKER_HOST?.trim();
  if (dockerHost) {
    if (dockerHost.startsWith('unix://')) return ping({ socketPath: dockerHost.slice('unix://'.length) });
    if (dockerHost.startsWith('tcp://') && !env.DOCKER_TLS_VERIFY) {
      const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
      return ping({ host: url.hostname, port: Number(url.port || 2375) });
    }
    return true;
  }
  const propertiesFile = join(homedir(), '.testcontainers.properties');
  if (existsSync(propertiesFile) && /^\s*docker\.host\s*=/m.test(readFileSync(propertiesFile, 'utf8'))) {
    return true;
  }
  const sockets = [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'docker.sock') : undefined,
  ].filter((socket): socket is string => socket !== undefined && existsSync(socket));
  for (const socketPath of sockets) if (await ping({ socketPath })) return true;
  return false;
}

function ping(target: { socketPath: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ ...target, path: '/_ping', timeout: DOCKER_PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

async function startContainer(): Promise<AcquiredKafka> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const runtime = await getContainerRuntimeClient();
  const host = runtime.info.containerRuntime.host;
  // The broker must advertise the address clients reach it on, which is only known before start
  // if the host port is chosen here and mapped 1:1.
  const port = await findFreePort();
  const settings: Record<string, string> = {
    'node.id': '1',
    'process.roles': 'broker,controller',
    'controller.quorum.voters': '1@localhost:9093',
    listeners: `INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:${port}`,
    'advertised.listeners': `INTERNAL://localhost:9092,EXTERNAL://${host}:${port}`,
    'listener.security.protocol.map': 'INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'INTERNAL',
    ...BROKER_SETTINGS,
  };
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    // The image's mapping: KAFKA_ + upper case, '.' → '_', '_' → '__', '-' → '___'.
    const name = key.replaceAll('_', '__').replaceAll('-', '___').replaceAll('.', '_').toUpperCase();
    environment[`KAFKA_${name}`] = value;
  }
  const container = await new GenericContainer(`apache/kafka:${readPinnedKafkaVersion()}`)
    .withEnvironment(environment)
    .withExposedPorts({ container: port, host: port })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  return {
    brokers: [`${host}:${port}`],
    stop: async () => {
      await container.stop();
    },
  };
}
