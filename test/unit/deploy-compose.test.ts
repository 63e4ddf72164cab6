/**
 * docker-compose.yml: valid against the Compose Specification's JSON schema (vendored), and
 * consistent with what the services and the tests expect — Kafka at the version the tests pin,
 * the topics the worker uses, health-gated start order, scalable workers, Prometheus wiring.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COMPOSE_FILE,
  composeEnvironment,
  composeSecretMounts,
  composeService,
  type Doc,
  interpolate,
  parseYamlDocuments,
  REPO,
  readYamlDocuments,
  validateCompose,
} from '../helpers/deploy.ts';

const compose = readYamlDocuments(COMPOSE_FILE)[0] as Doc;
const services = compose.services as Record<string, Doc>;
const service = (name: string): Doc => composeService(compose, name);
const serverEnv = composeEnvironment(compose, 'mcp-server');
const workerEnv = composeEnvironment(compose, 'kafka-worker');

function pinnedKafkaVersion(): string {
  const pom = readFileSync(resolve(REPO, 'scripts/kafka/pom.xml'), 'utf8');
  const match = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new Error('no <kafka.version> in scripts/kafka/pom.xml');
  return match[1];
}

/** Duration strings of compose (`45s`, `1m30s`) in milliseconds. */
function durationMs(value: string): number {
  let total = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)) {
    const factor = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, ns: 0.000001 }[unit as string] ?? 0;
    total += Number(n) * factor;
  }
  return total;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    expect(validateCompose(compose)).toEqual([]);
  });

  it('the schema check catches real mistakes (negative control)', () => {
    const broken = parseYamlDocuments(readFileSync(COMPOSE_FILE, 'utf8'))[0] as Doc;
    const svc = (broken.services as Record<string, Doc>)['kafka-worker'] as Doc;
    svc.depends_on = { 'mcp-server': { condition: 'service_ready' } };
    svc.helthcheck = svc.healthcheck;
    const errors = validateCompose(broken).join('\n');
    expect(errors).toContain('/services/kafka-worker/depends_on/mcp-server/condition');
    expect(errors).toContain('helthcheck');
  });

  it('runs Apache Kafka (KRaft) at the version the tests pin in scripts/kafka/pom.xml', () => {
    const version = pinnedKafkaVersion();
    expect(services.kafka?.image).toBe(`apache/kafka:${version}`);
    expect(services['kafka-init']?.image).toBe(`apache/kafka:${version}`);
    const env = composeEnvironment(compose, 'kafka');
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('1');
    expect(env.CLUSTER_ID).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(env.CLUSTER_ID ?? '', 'base64url')).toHaveLength(16);
  });

  it('creates the jobs, dead-letter and results topics the worker uses, with enough partitions', () => {
    const script = (service('kafka-init').command as string[]).join('\n');
    const topic = workerEnv.KAFKA_TOPIC as string;
    const list = /for spec in ([^;]+);/.exec(script)?.[1] ?? '';
    const specs = Object.fromEntries(
      list
        .trim()
        .split(/\s+/)
        .map((spec) => [spec.split(':')[0], Number(spec.split(':')[1])]),
    );
    expect(Object.keys(specs).sort()).toEqual([topic, `${topic}.dlq`, `${topic}.results`].sort());
    expect(specs[topic]).toBe(Number(workerEnv.KAFKA_TOPIC_PARTITIONS));
    expect(specs[topic]).toBeGreaterThan(1);
    expect(script).toContain('--if-not-exists');
  });

  it('starts services in health order: topics created, server healthy, database healthy', () => {
    const dependsOn = (name: string) => services[name]?.depends_on as Record<string, { condition: string }>;
    expect(dependsOn('kafka-init')).toEqual({ kafka: { condition: 'service_healthy' } });
    expect(dependsOn('kafka-worker')).toEqual({
      'kafka-init': { condition: 'service_completed_successfully' },
      'mcp-server': { condition: 'service_healthy' },
    });
    // The server queues MCP tasks on the jobs topic (docs/tasks.md): it waits for the topics too.
    expect(dependsOn('mcp-server')).toEqual({
      postgres: { condition: 'service_healthy' },
      'kafka-init': { condition: 'service_completed_successfully' },
    });
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries((svc.depends_on ?? {}) as Record<string, Doc>)) {
        if (condition === 'service_healthy')
          expect(services[dep]?.healthcheck, `${name} → ${dep}`).toBeDefined();
      }
    }
  });

  it('lets `--scale kafka-worker=N` and `--scale mcp-server=N` work', () => {
    for (const svc of Object.values(services)) expect(svc.container_name).toBeUndefined();
    expect(services['kafka-worker']?.ports).toBeUndefined();
    for (const port of (services['mcp-server']?.ports ?? []) as string[]) {
      // A host port range (or none): a fixed host port would collide on the second replica.
      expect(port).toMatch(/^(?:[\d.]+:)?\d+-\d+:\d+$/);
    }
  });

  it('runs the server stateless on PostgreSQL, reachable by its service name', () => {
    expect(serverEnv.MCP_STATELESS).toBe('true');
    expect(serverEnv.HOST).toBe('0.0.0.0');
    expect(services.postgres?.volumes).toContain('pgdata:/var/lib/postgresql/data');
    expect(Object.keys((compose.volumes ?? {}) as Doc)).toContain('pgdata');
    const serverUrl = new URL(workerEnv.MCP_SERVER_URL ?? '');
    expect(serverUrl.hostname).toBe('mcp-server');
    expect(serverUrl.port).toBe(serverEnv.PORT);
    expect((serverEnv.MCP_ALLOWED_HOSTS ?? '').split(',')).toContain('mcp-server');
  });

  it('passes secrets as Docker secret files (*_FILE), never as environment values', () => {
    const mounts = (name: string) =>
      Object.fromEntries(composeSecretMounts(compose, name).map((m) => [m.name, m.target]));
    expect(mounts('mcp-server')).toEqual({
      mcp_auth_token: '/run/secrets/mcp_auth_token',
      database_url: '/run/secrets/database_url',
    });
    expect(mounts('kafka-worker')).toEqual({ mcp_auth_token: '/run/secrets/mcp_auth_token' });
    expect(mounts('postgres')).toEqual({ postgres_password: '/run/secrets/postgres_password' });
    const fileVars = {
      'mcp-server': { MCP_AUTH_TOKEN_FILE: 'mcp_auth_token', DATABASE_URL_FILE: 'database_url' },
      'kafka-worker': { MCP_AUTH_TOKEN_FILE: 'mcp_auth_token' },
      postgres: { POSTGRES_PASSWORD_FILE: 'postgres_password' },
    };
    for (const [name, vars] of Object.entries(fileVars)) {
      const env = composeEnvironment(compose, name);
      for (const [variable, secret] of Object.entries(vars)) {
        expect(env[variable], `${name} ${variable}`).toBe(mounts(name)[secret]);
      }
      for (const plain of ['MCP_AUTH_TOKEN', 'DATABASE_URL', 'POSTGRES_PASSWORD']) {
        expect(env[plain], `${name} ${plain}`).toBeUndefined();
      }
      // No value anywhere in the service's environment is a secret's content.
      for (const value of Object.values(env)) expect(value).not.toMatch(/local-dev-only|change-me/);
    }
  });

  it('ships local-development secret files the containers can read, overridable by MCP_SECRETS_DIR', () => {
    const all = ['mcp-server', 'kafka-worker', 'postgres'].flatMap((name) =>
      composeSecretMounts(compose, name),
    );
    for (const { name, source } of all) {
      expect(source, name).toBe(resolve(REPO, 'secrets/local-dev', name));
      // Bind-mounted with the host file's mode: the containers' users (1000, 999) are "others".
      expect(statSync(source).mode & 0o004, `${source} world-readable`).toBe(0o004);
      expect(readFileSync(source, 'utf8').trim(), name).not.toBe('');
    }
    const elsewhere = composeSecretMounts(compose, 'mcp-server', { MCP_SECRETS_DIR: '/etc/mcp-secrets' });
    expect(elsewhere.map((m) => m.source)).toEqual([
      '/etc/mcp-secrets/mcp_auth_token',
      '/etc/mcp-secrets/database_url',
    ]);
    // The URL the server gets names the compose database with the password postgres gets.
    const read = (name: string) =>
      readFileSync(all.find((m) => m.name === name)?.source as string, 'utf8').trim();
    const db = new URL(read('database_url'));
    expect(db.hostname).toBe('postgres');
    expect(decodeURIComponent(db.password)).toBe(read('postgres_password'));
    expect(db.username).toBe(composeEnvironment(compose, 'postgres').POSTGRES_USER);
  });

  it('the secret check catches an environment-sourced or undefined secret (negative control)', () => {
    const broken = parseYamlDocuments(readFileSync(COMPOSE_FILE, 'utf8'))[0] as Doc;
    const secrets = broken.secrets as Record<string, Doc>;
    delete secrets.database_url;
    expect(() => composeSecretMounts(broken, 'mcp-server')).toThrow(/database_url, which is not defined/);
    secrets.mcp_auth_token = { environment: 'MCP_AUTH_TOKEN' };
    expect(() => composeSecretMounts(broken, 'kafka-worker')).toThrow(/not a file: secret/);
  });

  it('admits the server_initialize sandbox on the server only, without capabilities or setuid', () => {
    const server = services['mcp-server'] as Doc;
    expect(server.security_opt).toEqual(
      expect.arrayContaining([
        'no-new-privileges:true',
        'seccomp=unconfined',
        'apparmor=unconfined',
        'systempaths=unconfined',
      ]),
    );
    expect(server.cap_drop).toEqual(['ALL']);
    expect(server.cap_add).toBeUndefined();
    expect(server.privileged).toBeUndefined();
    expect(serverEnv.MCP_INIT_SANDBOX).toBe('bwrap');
    expect(serverEnv.MCP_INIT_NETWORK).toBe('none');
    const worker = services['kafka-worker'] as Doc;
    expect(String(worker.security_opt ?? '')).not.toMatch(/unconfined/);
  });

  it('gives the worker longer to stop than its worst drain time', () => {
    const grace = durationMs(String(services['kafka-worker']?.stop_grace_period ?? '10s'));
    expect(grace).toBeGreaterThan(Number(workerEnv.WORKER_SHUTDOWN_TIMEOUT_MS));
  });

  it('keeps Prometheus optional and scraping both services where they serve /metrics', () => {
    expect(services.prometheus?.profiles).toEqual(['monitoring']);
    const config = readYamlDocuments(resolve(REPO, 'monitoring/prometheus.yml'))[0] as Doc;
    const jobs = Object.fromEntries(
      (config.scrape_configs as Doc[]).map((job) => [job.job_name, (job.dns_sd_configs as Doc[])[0]]),
    );
    expect(jobs['mcp-server']).toMatchObject({ names: ['mcp-server'], port: Number(serverEnv.PORT) });
    expect(jobs['kafka-worker']).toMatchObject({
      names: ['kafka-worker'],
      port: Number(workerEnv.METRICS_PORT),
    });
    expect((service('prometheus').volumes as string[])[0]).toMatch(/^\.\/monitoring\/prometheus\.yml:/);
  });

  it('healthchecks probe the ports the services listen on', () => {
    const test = (name: string) => (service(name).healthcheck as { test: string[] }).test.join(' ');
    expect(test('mcp-server')).toContain(`127.0.0.1:${serverEnv.PORT}/ready`);
    expect(test('kafka-worker')).toContain(`127.0.0.1:${workerEnv.METRICS_PORT}/ready`);
  });
});

describe('interpolate', () => {
  // Compose syntax spelled with a `$` variable, so nothing here reads as a JS template.
  const $ = '$';
  it('follows compose rules for defaults and escapes', () => {
    expect(interpolate(`${$}{A:-x}`, {})).toBe('x');
    expect(interpolate(`${$}{A:-x}`, { A: '' })).toBe('x');
    expect(interpolate(`${$}{A-x}`, { A: '' })).toBe('');
    expect(interpolate(`${$}A/${$}{B}`, { A: '1', B: '2' })).toBe('1/2');
    expect(interpolate(`${$}${$}{spec%%:*}`)).toBe(`${$}{spec%%:*}`);
  });
});
