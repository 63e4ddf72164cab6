/**
 * Configuration for both services: one zod schema per service over the process
 * environment, parsed once at start. Nothing else in the code base reads
 * `process.env`; a bad value stops the process with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';

type Env = Record<string, string | undefined>;

/** WORKER_ORDERING: which jobs of one partition may run at once (src/worker/key-window.ts). */
export const ORDERING_MODES = ['key', 'partition', 'unordered'] as const;
export type OrderingMode = (typeof ORDERING_MODES)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v === 'true' || v === '1' || v === 'yes'));

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer between ${min} and ${max}, got '${v}'` });
        return z.NEVER;
      }
      return n;
    });

const list = (fallback: string[]) =>
  z
    .string()
    .optional()
    .transform((v) =>
      v === undefined || v.trim() === ''
        ? fallback
        : v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
    );

/** Like `list`, but an empty value means the empty list (fail closed), not the default. */
const listOrNone = (fallback: string[]) =>
  z
    .string()
    .optional()
    .transform((v) =>
      v === undefined
        ? fallback
        : v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
    );

const absolutePaths = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const paths = (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (const path of paths) {
      if (!isAbsolute(path)) {
        ctx.addIssue({ code: 'custom', message: `must be absolute paths, got '${path}'` });
        return z.NEVER;
      }
    }
    return paths;
  });

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration: milliseconds, or a number with a unit (`500ms`, `30s`, `15m`, `12h`, `7d`). */
const duration = (fallbackMs: number, minMs: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallbackMs;
      const match = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(v.trim());
      const ms = match ? Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']! : Number.NaN;
      if (!Number.isSafeInteger(ms) || ms < minMs) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration of at least ${minMs} ms (e.g. 7d, 12h, 30m, 45s, 1500), got '${v}'`,
        });
        return z.NEVER;
      }
      return ms;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .optional()
  .transform((v) => v ?? 'info');

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** OTLP/HTTP endpoint (base URL) for traces; unset or empty: tracing exports nothing. */
const otelEndpoint = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return undefined;
    try {
      return new URL(v.trim()).toString().replace(/\/$/, '');
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be a URL, got '${v}'` });
      return z.NEVER;
    }
  });

const serviceName = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? fallback : v.trim()));

export const serverEnvSchema = z.object({
  PORT: int(8080, 0, 65535),
  HOST: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? '127.0.0.1' : v.trim())),
  NOTES_DB: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? './data/notes.db' : v)),
  DATABASE_URL: optionalString,
  MCP_STATELESS: bool(false),
  MCP_AUTH_TOKEN: optionalString,
  /** Host header names (without port) accepted on MCP routes; DNS-rebinding protection. */
  MCP_ALLOWED_HOSTS: list(LOCAL_HOSTS),
  /** Origin values accepted when a browser sends one; requests without Origin are allowed. */
  MCP_ALLOWED_ORIGINS: list([]),
  MCP_SESSION_IDLE_MS: int(30 * 60_000, 1_000, 24 * 60 * 60_000),
  MCP_MAX_SESSIONS: int(1_000, 1, 1_000_000),
  /** Per session: bytes of sent messages kept for resuming a dropped stream; 0 turns resumability off. */
  MCP_EVENT_STORE_BYTES: int(2 * 1024 * 1024, 0, 1024 * 1024 * 1024),
  MCP_EVENT_STORE_EVENTS: int(256, 1, 1_000_000),
  MCP_SSE_RETRY_MS: int(1_000, 0, 600_000),
  MCP_BODY_LIMIT: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? '4mb' : v.trim())),
  NOTES_MAX_CONTENT_BYTES: int(1024 * 1024, 1, 64 * 1024 * 1024),
  NOTES_RESOURCE_MAX_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Secret files (Docker/Kubernetes secrets): the value is the file's content. */
  MCP_AUTH_TOKEN_FILE: optionalString,
  DATABASE_URL_FILE: optionalString,
  /** Set but empty: nothing is allowed (server_initialize refuses every command). */
  MCP_INIT_ALLOWED_COMMANDS: listOrNone(['node', 'npx', 'uv', 'uvx', 'python3']),
  MCP_INIT_ENV_DIR: optionalString,
  MCP_INIT_TIMEOUT_MS: int(30_000, 100, 10 * 60_000),
  MCP_INIT_SANDBOX: z
    .enum(['bwrap', 'off', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? 'bwrap' : v)),
  MCP_INIT_SANDBOX_PATHS: absolutePaths,
  MCP_INIT_NETWORK: z
    .enum(['none', 'host', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? 'none' : v)),
  /** RLIMIT_DATA per child process, MiB; 0 = no limit. Node needs about 640 just to start. */
  MCP_INIT_MEMORY_MB: int(1024, 0, 1024 * 1024),
  MCP_INIT_MAX_CONCURRENT: int(4, 1, 256),
  MCP_INIT_MAX_LISTING_BYTES: int(1024 * 1024, 1024, 256 * 1024 * 1024),
  /** Idempotency records older than this are pruned. */
  MCP_IDEMPOTENCY_TTL: duration(7 * 86_400_000, 1_000),
  /** MCP Tasks over Kafka (docs/tasks.md): unset = no tasks capability. */
  KAFKA_BROKERS: list([]),
  KAFKA_TOPIC: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'mcp-jobs' : v.trim())),
  KAFKA_TOPIC_PARTITIONS: int(4, 1, 10_000),
  KAFKA_REPLICATION_FACTOR: int(-1, -1, 32),
  MCP_TASKS_CONSUMER_GROUP: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'mcp-server-tasks' : v.trim())),
  MCP_TASK_TTL: duration(60 * 60_000, 1_000),
  MCP_TASK_MAX_TTL: duration(7 * 86_400_000, 1_000),
  MCP_TASK_POLL_INTERVAL_MS: int(1_000, 50, 60_000),
  /** How often expired task records are deleted (they are invisible from their expiry on). */
  MCP_TASK_PRUNE_INTERVAL: duration(60_000, 100),
  /** Tasks per tasks/list page. */
  MCP_TASKS_PAGE_SIZE: int(50, 1, 1_000),
  LOG_LEVEL: logLevel,
  OTEL_EXPORTER_OTLP_ENDPOINT: otelEndpoint,
  OTEL_SERVICE_NAME: serviceName('mcp-server'),
});

/** The server's Kafka task path; present only when KAFKA_BROKERS is set. */
export type TaskServerConfig = {
  brokers: string[];
  topic: string;
  topicPartitions: number;
  replicationFactor: number;
  clientId: string;
  outcomesGroup: string;
  defaultTtlMs: number;
  maxTtlMs: number;
  pollIntervalMs: number;
  /** Interval of the expired-task pruner. */
  pruneIntervalMs: number;
  /** Tasks per tasks/list page. */
  listPageSize: number;
};

export type ServerConfig = {
  port: number;
  host: string;
  notesDb: string;
  databaseUrl: string | undefined;
  stateless: boolean;
  authToken: string | undefined;
  allowedHosts: string[];
  allowedOrigins: string[];
  sessionIdleMs: number;
  maxSessions: number;
  /** Resumable streams (stateful sessions); undefined when MCP_EVENT_STORE_BYTES=0. */
  eventStore: { maxBytes: number; maxEvents: number; retryMs: number } | undefined;
  bodyLimit: string;
  maxContentBytes: number;
  resourceMaxBytes: number;
  init: {
    allowedCommands: string[];
    envDir: string | undefined;
    timeoutMs: number;
    /** PATH and HOME handed to spawned servers: the only variables of ours they inherit. */
    baseEnv: { PATH?: string; HOME?: string };
    sandbox: 'bwrap' | 'off';
    sandboxPaths: string[];
    network: 'none' | 'host';
    memoryMb: number;
    maxConcurrent: number;
    maxListingBytes: number;
  };
  idempotencyTtlMs: number;
  tasks: TaskServerConfig | undefined;
  /** Paths of the *_FILE secrets, hidden from server_initialize sandboxes. */
  secretFiles: string[];
  logLevel: string;
  otel: { endpoint: string | undefined; serviceName: string };
};

export const workerEnvSchema = z.object({
  KAFKA_BROKERS: list(['localhost:9092']),
  KAFKA_TOPIC: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'mcp-jobs' : v.trim())),
  KAFKA_CLIENT_ID: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'kafka-worker' : v.trim())),
  MCP_CONSUMER_GROUP: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'mcp-workers' : v.trim())),
  /** One server, or a comma-separated list of replicas the worker fails over between. */
  MCP_SERVER_URL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const values = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      const urls: string[] = [];
      for (const value of values.length > 0 ? values : ['http://localhost:8080']) {
        try {
          urls.push(new URL(value).toString().replace(/\/$/, ''));
        } catch {
          ctx.addIssue({
            code: 'custom',
            message: `must be a URL or a comma-separated list of URLs, got '${value}'`,
          });
          return z.NEVER;
        }
      }
      return urls;
    }),
  MCP_AUTH_TOKEN: optionalString,
  MCP_AUTH_TOKEN_FILE: optionalString,
  /** Partitions of the jobs topic when the worker creates it (an existing topic is left as is). */
  KAFKA_TOPIC_PARTITIONS: int(4, 1, 10_000),
  /** Replication factor for topics the worker creates; -1 = the broker's default. */
  KAFKA_REPLICATION_FACTOR: int(-1, -1, 32),
  KAFKA_SESSION_TIMEOUT_MS: int(30_000, 1_000, 3_600_000),
  KAFKA_HEARTBEAT_INTERVAL_MS: int(3_000, 100, 600_000),
  KAFKA_REBALANCE_TIMEOUT_MS: int(60_000, 1_000, 3_600_000),
  /** Partitions handled at once by one worker. */
  WORKER_PARTITIONS_CONCURRENCY: int(4, 1, 1024),
  /**
   * Which jobs of one partition may run at once: `key` (same message key in offset order,
   * different keys concurrently), `partition` (one at a time, offset order), `unordered`.
   */
  WORKER_ORDERING: z
    .enum([...ORDERING_MODES, ''])
    .optional()
    .transform((v): OrderingMode => (v === undefined || v === '' ? 'key' : v)),
  /**
   * Bound of the window in `key` and `unordered` modes: jobs of ONE partition admitted at once
   * (running, or waiting behind an earlier job of their key). 1 = strict offset order.
   */
  WORKER_JOBS_PER_PARTITION: int(16, 1, 1024),
  WORKER_MAX_ATTEMPTS: int(8, 1, 1000),
  WORKER_BACKOFF_INITIAL_MS: int(500, 1, 600_000),
  WORKER_BACKOFF_MAX_MS: int(30_000, 1, 3_600_000),
  WORKER_CALL_TIMEOUT_MS: int(60_000, 100, 3_600_000),
  WORKER_SHUTDOWN_TIMEOUT_MS: int(30_000, 1_000, 3_600_000),
  WORKER_MAX_MESSAGE_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Handled offsets are committed at least this often while a batch is being worked through. */
  WORKER_COMMIT_INTERVAL_MS: int(1_000, 50, 600_000),
  /** How often consumer lag per partition is refreshed for the metrics. */
  WORKER_LAG_INTERVAL_MS: int(15_000, 500, 3_600_000),
  METRICS_PORT: int(9464, 0, 65535),
  METRICS_HOST: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? '0.0.0.0' : v.trim())),
  LOG_LEVEL: logLevel,
  OTEL_EXPORTER_OTLP_ENDPOINT: otelEndpoint,
  OTEL_SERVICE_NAME: serviceName('kafka-worker'),
});

export type WorkerConfig = {
  brokers: string[];
  topic: string;
  dlqTopic: string;
  resultsTopic: string;
  clientId: string;
  groupId: string;
  /** The server, or its replicas in failover order. */
  serverUrls: string[];
  authToken: string | undefined;
  topicPartitions: number;
  replicationFactor: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  partitionsConcurrency: number;
  ordering: OrderingMode;
  jobsPerPartition: number;
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  callTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxMessageBytes: number;
  commitIntervalMs: number;
  lagIntervalMs: number;
  metricsPort: number;
  metricsHost: string;
  logLevel: string;
  otel: { endpoint: string | undefined; serviceName: string };
};

function parseOrThrow<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

export type ReadSecretFile = (path: string) => string;

const readSecretFileSync: ReadSecretFile = (path) => readFileSync(path, 'utf8');

/**
 * `NAME` from `NAME_FILE` when that is set (the Docker/Kubernetes secrets convention): the
 * file's content without its trailing newline. Setting both is an error; so is an unreadable
 * or empty file. Messages name the variable and the path, never the content.
 */
export function resolveSecretFiles(env: Env, names: readonly string[], read: ReadSecretFile): Env {
  const resolved: Env = { ...env };
  const problems: string[] = [];
  for (const name of names) {
    const path = env[`${name}_FILE`]?.trim();
    if (!path) continue;
    if (env[name]?.trim()) {
      problems.push(`  ${name}_FILE: set both ${name} and ${name}_FILE; set only one`);
      continue;
    }
    try {
      const value = read(path).replace(/\r?\n$/, '');
      if (value.trim() === '') problems.push(`  ${name}_FILE: the file '${path}' is empty`);
      else resolved[name] = value;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(`  ${name}_FILE: cannot read '${path}' (${code})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return resolved;
}

export function parseServerConfig(
  env: Env,
  readSecretFile: ReadSecretFile = readSecretFileSync,
): ServerConfig {
  const e = parseOrThrow(
    serverEnvSchema,
    resolveSecretFiles(env, ['MCP_AUTH_TOKEN', 'DATABASE_URL'], readSecretFile),
  );
  return {
    port: e.PORT,
    host: e.HOST,
    notesDb: e.NOTES_DB,
    databaseUrl: e.DATABASE_URL,
    stateless: e.MCP_STATELESS,
    authToken: e.MCP_AUTH_TOKEN,
    allowedHosts: e.MCP_ALLOWED_HOSTS.map((h) => h.toLowerCase()),
    allowedOrigins: e.MCP_ALLOWED_ORIGINS,
    sessionIdleMs: e.MCP_SESSION_IDLE_MS,
    maxSessions: e.MCP_MAX_SESSIONS,
    eventStore:
      e.MCP_EVENT_STORE_BYTES === 0
        ? undefined
        : {
            maxBytes: e.MCP_EVENT_STORE_BYTES,
            maxEvents: e.MCP_EVENT_STORE_EVENTS,
            retryMs: e.MCP_SSE_RETRY_MS,
          },
    bodyLimit: e.MCP_BODY_LIMIT,
    maxContentBytes: e.NOTES_MAX_CONTENT_BYTES,
    resourceMaxBytes: e.NOTES_RESOURCE_MAX_BYTES,
    init: {
      allowedCommands: e.MCP_INIT_ALLOWED_COMMANDS,
      envDir: e.MCP_INIT_ENV_DIR,
      timeoutMs: e.MCP_INIT_TIMEOUT_MS,
      baseEnv: { PATH: env.PATH, HOME: env.HOME },
      sandbox: e.MCP_INIT_SANDBOX,
      sandboxPaths: e.MCP_INIT_SANDBOX_PATHS,
      network: e.MCP_INIT_NETWORK,
      memoryMb: e.MCP_INIT_MEMORY_MB,
      maxConcurrent: e.MCP_INIT_MAX_CONCURRENT,
      maxListingBytes: e.MCP_INIT_MAX_LISTING_BYTES,
    },
    idempotencyTtlMs: e.MCP_IDEMPOTENCY_TTL,
    tasks:
      e.KAFKA_BROKERS.length === 0
        ? undefined
        : {
            brokers: e.KAFKA_BROKERS,
            topic: e.KAFKA_TOPIC,
            topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
            replicationFactor: e.KAFKA_REPLICATION_FACTOR,
            clientId: 'mcp-server',
            outcomesGroup: e.MCP_TASKS_CONSUMER_GROUP,
            defaultTtlMs: Math.min(e.MCP_TASK_TTL, e.MCP_TASK_MAX_TTL),
            maxTtlMs: e.MCP_TASK_MAX_TTL,
            pollIntervalMs: e.MCP_TASK_POLL_INTERVAL_MS,
            pruneIntervalMs: e.MCP_TASK_PRUNE_INTERVAL,
            listPageSize: e.MCP_TASKS_PAGE_SIZE,
          },
    secretFiles: [e.MCP_AUTH_TOKEN_FILE, e.DATABASE_URL_FILE].filter((p): p is string => p !== undefined),
    logLevel: e.LOG_LEVEL,
    otel: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
  };
}

export function parseWorkerConfig(
  env: Env,
  readSecretFile: ReadSecretFile = readSecretFileSync,
): WorkerConfig {
  const e = parseOrThrow(workerEnvSchema, resolveSecretFiles(env, ['MCP_AUTH_TOKEN'], readSecretFile));
  return {
    brokers: e.KAFKA_BROKERS,
    topic: e.KAFKA_TOPIC,
    dlqTopic: `${e.KAFKA_TOPIC}.dlq`,
    resultsTopic: `${e.KAFKA_TOPIC}.results`,
    clientId: e.KAFKA_CLIENT_ID,
    groupId: e.MCP_CONSUMER_GROUP,
    serverUrls: e.MCP_SERVER_URL,
    authToken: e.MCP_AUTH_TOKEN,
    topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: e.KAFKA_REPLICATION_FACTOR,
    sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: e.KAFKA_HEARTBEAT_INTERVAL_MS,
    rebalanceTimeoutMs: e.KAFKA_REBALANCE_TIMEOUT_MS,
    partitionsConcurrency: e.WORKER_PARTITIONS_CONCURRENCY,
    ordering: e.WORKER_ORDERING,
    jobsPerPartition: e.WORKER_JOBS_PER_PARTITION,
    maxAttempts: e.WORKER_MAX_ATTEMPTS,
    backoffInitialMs: e.WORKER_BACKOFF_INITIAL_MS,
    backoffMaxMs: e.WORKER_BACKOFF_MAX_MS,
    callTimeoutMs: e.WORKER_CALL_TIMEOUT_MS,
    shutdownTimeoutMs: e.WORKER_SHUTDOWN_TIMEOUT_MS,
    maxMessageBytes: e.WORKER_MAX_MESSAGE_BYTES,
    commitIntervalMs: e.WORKER_COMMIT_INTERVAL_MS,
    lagIntervalMs: e.WORKER_LAG_INTERVAL_MS,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    logLevel: e.LOG_LEVEL,
    otel: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
  };
}

/** Every variable each service reads; the deployment-drift test compares manifests against these. */
export const SERVER_ENV_VARS = Object.keys(serverEnvSchema.shape);
export const WORKER_ENV_VARS = Object.keys(workerEnvSchema.shape);
