/**
 * The worker's Prometheus metrics, registered on a Registry passed in (never the global
 * default, so two workers in one test process do not collide). `job_type` is a known job
 * type or `unknown`, so a producer cannot blow up label cardinality. The two updated for every
 * job are hot-metrics.ts's, exposed as prom-client's own.
 */
import { Counter, collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../observability/hot-metrics.ts';

export interface WorkerMetrics {
  registry: Registry;
  jobs: HotCounter<'job_type' | 'outcome'>;
  jobDuration: HotHistogram<'job_type' | 'outcome'>;
  retries: Counter<'job_type' | 'reason'>;
  deadLetters: Counter<'reason'>;
  inFlight: Gauge;
  consumerLag: Gauge<'topic' | 'partition'>;
  mcpConnected: Gauge;
  mcpReconnects: Counter;
  publishErrors: Counter;
}

export function createWorkerMetrics(
  registry: Registry,
  options: { defaultMetrics?: boolean } = {},
): WorkerMetrics {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    jobs: new HotCounter({
      name: 'kafka_worker_jobs_total',
      help: 'Jobs handled, by job type and outcome (succeeded | dead_lettered).',
      labelNames: ['job_type', 'outcome'],
      registers,
    }),
    jobDuration: new HotHistogram({
      name: 'kafka_worker_job_duration_seconds',
      help: 'Time from picking a job up to its outcome (all attempts and backoff included).',
      labelNames: ['job_type', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    retries: new Counter({
      name: 'kafka_worker_retries_total',
      help: 'Retries after a transient failure, by job type and reason.',
      labelNames: ['job_type', 'reason'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'kafka_worker_dlq_messages_total',
      help: 'Messages written to the dead-letter topic, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'kafka_worker_jobs_in_flight',
      help: 'Jobs being worked on now.',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'kafka_worker_consumer_lag',
      help: "Messages not yet committed by the worker's consumer group, per partition.",
      labelNames: ['topic', 'partition'],
      registers,
    }),
    mcpConnected: new Gauge({
      name: 'kafka_worker_mcp_connected',
      help: '1 while the MCP client has a live session with the server.',
      registers,
    }),
    mcpReconnects: new Counter({
      name: 'kafka_worker_mcp_connections_total',
      help: 'MCP sessions established (the first one plus every reconnect).',
      registers,
    }),
    publishErrors: new Counter({
      name: 'kafka_worker_publish_errors_total',
      help: 'Failed sends of dead letters or outcome events (each is retried).',
      registers,
    }),
  };
}
