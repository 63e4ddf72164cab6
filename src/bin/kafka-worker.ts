#!/usr/bin/env node
/**
 * kafka-worker entrypoint: parse config → logger → metrics → MCP client → worker (consumer);
 * subcommands `run` (default), `enqueue` (src/worker/enqueue.ts) and the operator commands
 * (src/ops/cli.ts); on SIGTERM/SIGINT close in reverse order and exit
 * 0 within WORKER_SHUTDOWN_TIMEOUT_MS (exit 1 if the deadline forces it).
 */
import '../node-version.ts'; // first: refuses an old Node before anything else loads
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { ConfigError, parseWorkerConfig, type WorkerConfig } from '../config.ts';
import { createKafka } from '../kafka/client.ts';
import { createLogger } from '../observability/logger.ts';
import { initTracing } from '../observability/tracing.ts';
import { OPS_USAGE, runOpsCommand, UsageError } from '../ops/cli.ts';
import { VERSION } from '../version.ts';
import { enqueueJobs, JobsFileError, readJobsFile, type ValidJob } from '../worker/enqueue.ts';
import { createDefaultJobRegistry } from '../worker/handlers/index.ts';
import { startWorkerHttpServer } from '../worker/http.ts';
import { createWorkerMetrics } from '../worker/metrics.ts';
import { createWorkerMcpClient, KafkaWorker } from '../worker/worker.ts';

const JOB_TYPES = createDefaultJobRegistry()
  .handlers()
  .map((h) => `  ${h.jobType.padEnd(12)} ${h.description}`)
  .join('\n');

const HELP = `kafka-worker ${VERSION} — runs MCP jobs from a Kafka topic through the MCP server

Usage:
  kafka-worker [run]                  consume KAFKA_TOPIC in group MCP_CONSUMER_GROUP and run each job
  kafka-worker enqueue --file <path>  validate and produce jobs to KAFKA_TOPIC, keyed by jobID
                                      (<path>: one envelope, a JSON array, or JSON lines; '-' = stdin)
${OPS_USAGE}  kafka-worker --help                 show this help
  kafka-worker --version              print the version

Job envelope (message value):
  {"jobID":"job-123","jobType":"tool-call","payload":{"tool":"save_note","arguments":{"title":"t","content":"c"}}}
  payload may also be a JSON string, as in the seed.
Job types:
${JOB_TYPES}

Outcomes: every handled job emits one event to <topic>.results (key = jobID); a job that fails
permanently (bad JSON/schema, unknown jobType, tool error, retries exhausted) is copied to
<topic>.dlq with x-error-* and x-original-* headers. Offsets are committed only after that.

Environment (all optional):
  KAFKA_BROKERS=localhost:9092        comma-separated bootstrap brokers
  KAFKA_TOPIC=mcp-jobs                jobs topic (also <topic>.dlq, <topic>.results)
  KAFKA_CLIENT_ID=kafka-worker        Kafka client id
  KAFKA_TOPIC_PARTITIONS=4            partitions when the worker creates the topics
  KAFKA_REPLICATION_FACTOR=-1         replication when creating topics (-1 = broker default)
  KAFKA_SESSION_TIMEOUT_MS=30000      consumer session timeout
  KAFKA_HEARTBEAT_INTERVAL_MS=3000    consumer heartbeat interval
  KAFKA_REBALANCE_TIMEOUT_MS=60000    consumer rebalance timeout
  MCP_CONSUMER_GROUP=mcp-workers      consumer group id
  MCP_SERVER_URL=http://localhost:8080   MCP server (Streamable HTTP at /mcp, SSE fallback at /sse);
                                      a comma-separated list of replicas fails over between them
  MCP_AUTH_TOKEN                      sent as 'Authorization: Bearer <token>'
  MCP_AUTH_TOKEN_FILE                 read that token from a file instead (Docker/Kubernetes secrets)
  WORKER_PARTITIONS_CONCURRENCY=4     partitions worked on at once
  WORKER_ORDERING=key                 which jobs of one partition run at once: key (same message
                                      key in offset order, different keys concurrently; enqueue
                                      keys by jobID), partition (one at a time), unordered
  WORKER_JOBS_PER_PARTITION=16        jobs of one partition in flight at once (key, unordered;
                                      1 = strict order); commits never pass an unhandled job
  WORKER_MAX_ATTEMPTS=8               tries per job on transient failures before dead-lettering
  WORKER_BACKOFF_INITIAL_MS=500       first retry delay (exponential, jittered)
  WORKER_BACKOFF_MAX_MS=30000         longest retry delay
  WORKER_CALL_TIMEOUT_MS=60000        timeout of one MCP tool call
  WORKER_SHUTDOWN_TIMEOUT_MS=30000    SIGTERM: finish in-flight jobs and exit within this
  WORKER_MAX_MESSAGE_BYTES=1048576    larger messages are dead-lettered unread
  WORKER_COMMIT_INTERVAL_MS=1000      commit handled offsets at least this often
  WORKER_LAG_INTERVAL_MS=15000        consumer lag refresh period (metrics)
  METRICS_PORT=9464                   /metrics, /health, /ready
  METRICS_HOST=0.0.0.0                bind address of that port
  LOG_LEVEL=info                      fatal|error|warn|info|debug|trace|silent
  OTEL_EXPORTER_OTLP_ENDPOINT         OTLP/HTTP collector (e.g. http://collector:4318): export trace spans
  OTEL_SERVICE_NAME=kafka-worker      service.name of those spans
`;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fail(message: string, code = 2): number {
  process.stderr.write(`kafka-worker: ${message}\n`);
  return code;
}

async function run(config: WorkerConfig): Promise<number> {
  const tracing = initTracing({ serviceName: config.otel.serviceName, endpoint: config.otel.endpoint });
  const logger = createLogger({ name: 'kafka-worker', level: config.logLevel, fd: 1 });
  const metrics = createWorkerMetrics(new Registry());
  const kafka = createKafka({ clientId: config.clientId, brokers: config.brokers, logger });
  const client = createWorkerMcpClient(config, logger, metrics);
  let fatal: ((err: unknown) => void) | undefined;
  const died = new Promise<unknown>((resolve) => {
    fatal = resolve;
  });
  const worker = new KafkaWorker({ config, logger, metrics, kafka, client, onFatal: (err) => fatal?.(err) });
  const http = await startWorkerHttpServer({
    port: config.metricsPort,
    host: config.metricsHost,
    registry: metrics.registry,
    readiness: {
      consumerJoined: () => worker.consumerJoined,
      mcpConnected: () => client.connected,
      publishing: () => worker.publishHealth(),
    },
    logger,
  });

  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
  });
  let code = 0;
  try {
    await Promise.race([worker.start(), died.then((err) => Promise.reject(err))]);
    const reason = await Promise.race([signalled, died.then(() => 'consumer crashed')]);
    if (reason === 'consumer crashed') code = 1;
    logger.info({ reason }, 'shutting down');
  } catch (err) {
    logger.error({ err: String(err) }, 'kafka-worker failed');
    code = 1;
  }
  // A second signal, or the deadline, ends the process without waiting further.
  const force = (why: string) => {
    // What still holds the event loop (timers, sockets) says which part did not close.
    logger.error({ why, active: process.getActiveResourcesInfo() }, 'forced exit');
    logger.flush();
    process.exit(1);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => force(`second ${sig}`));
  setTimeout(() => force('WORKER_SHUTDOWN_TIMEOUT_MS exceeded'), config.shutdownTimeoutMs).unref();
  await worker.close();
  await http.close();
  await tracing.shutdown();
  if (worker.consumerRestartUnderWay) {
    // kafkajs began restarting the crashed consumer before the stop and has no way to cancel
    // that: it keeps reconnecting to an unreachable cluster on its own timers. Everything of
    // ours is closed, so exit now rather than wait for it into the forced exit.
    logger.info({ code }, 'kafka-worker stopped while kafkajs was restarting its consumer; exiting');
    logger.flush();
    process.exit(code);
  }
  logger.flush();
  return code;
}

async function enqueue(config: WorkerConfig, args: string[]): Promise<number> {
  let file: string | undefined;
  try {
    ({
      values: { file },
    } = parseArgs({ args, options: { file: { type: 'string', short: 'f' } }, strict: true }));
  } catch (err) {
    return fail(`enqueue: ${errorText(err)}\n\n${HELP}`);
  }
  if (!file) return fail(`enqueue: --file <path> is required\n\n${HELP}`);
  let jobs: ValidJob[];
  try {
    jobs = readJobsFile(file, createDefaultJobRegistry());
  } catch (err) {
    if (err instanceof JobsFileError) return fail(`enqueue: ${err.message}`, 1);
    throw err;
  }
  const logger = createLogger({
    name: 'kafka-worker',
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    fd: 2,
  });
  const kafka = createKafka({ clientId: `${config.clientId}-enqueue`, brokers: config.brokers, logger });
  const tracing = initTracing({ serviceName: config.otel.serviceName, endpoint: config.otel.endpoint });
  const result = await enqueueJobs({
    kafka,
    topics: config,
    partitions: config.topicPartitions,
    replicationFactor: config.replicationFactor,
    jobs,
    logger,
  }).finally(() => tracing.shutdown());
  process.stdout.write(`enqueued ${result.sent} job(s) to ${config.topic}\n`);
  logger.flush();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command = 'run', ...rest] = argv;
  if (!['run', 'enqueue', 'status', 'dlq', 'results'].includes(command))
    return fail(`unknown command '${command}'\n\n${HELP}`);
  if (command === 'run' && rest.length > 0) return fail(`run: unknown argument '${rest[0]}'\n\n${HELP}`);
  let config: WorkerConfig;
  try {
    config = parseWorkerConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  if (command === 'status' || command === 'dlq' || command === 'results') {
    return runOpsCommand(argv, config).catch((err: unknown) =>
      err instanceof UsageError ? fail(`${err.message}\n\n${HELP}`) : fail(errorText(err), 1),
    );
  }
  return command === 'enqueue' ? enqueue(config, rest) : run(config);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `kafka-worker: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
