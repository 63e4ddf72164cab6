/**
 * Producer side of the CLI (`kafka-worker enqueue --file jobs.json`): reads one envelope, a
 * JSON array of envelopes, or JSON lines; validates every envelope AND its payload against the
 * job registry before sending anything (a file with one bad job sends none); then produces
 * them keyed by jobID with the idempotent producer, in file order.
 */
import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../kafka/producer.ts';
import { ensureTopics, type WorkerTopics, workerTopicConfigs } from '../kafka/topics.ts';
import type { Logger } from '../observability/logger.ts';
import { startProducerSpan } from '../observability/tracing.ts';
import { errorMessage } from '../retry/errors.ts';
import { toJobEnvelope } from './envelope.ts';
import type { JobRegistry } from './registry.ts';

export interface ValidJob {
  jobID: string;
  jobType: string;
  /** The envelope as given (payload string or object kept as is), serialised. */
  value: string;
}

/** Splits a jobs file into envelope candidates; throws naming the line that is not JSON. */
export function parseJobsText(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('the file holds no jobs');
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed)) throw new Error('expected a JSON array of job envelopes');
    return parsed;
  }
  try {
    return [JSON.parse(trimmed)];
  } catch {
    // Not one JSON document: JSON lines.
  }
  const items: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (err) {
      throw new Error(`line ${index + 1} is not JSON: ${errorMessage(err)}`);
    }
  }
  return items;
}

/** Checks every candidate; returns the jobs, or the list of problems (one per bad job). */
export function validateJobs(
  items: unknown[],
  registry: JobRegistry,
): { jobs: ValidJob[]; errors: string[] } {
  const jobs: ValidJob[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    const where = `job #${index + 1}`;
    try {
      const envelope = toJobEnvelope(item);
      registry.resolve(envelope);
      const first = seen.get(envelope.jobID);
      if (first !== undefined) {
        errors.push(`${where}: duplicate jobID '${envelope.jobID}' (also job #${first})`);
        continue;
      }
      seen.set(envelope.jobID, index + 1);
      jobs.push({ jobID: envelope.jobID, jobType: envelope.jobType, value: JSON.stringify(item) });
    } catch (err) {
      errors.push(`${where}: ${errorMessage(err)}`);
    }
  }
  return { jobs, errors };
}

/** Why a jobs file was refused; nothing was sent. */
export class JobsFileError extends Error {
  override name = 'JobsFileError';
}

/**
 * Reads `path` ('-' = stdin), splits it into envelopes and checks each one; returns the jobs, or
 * throws a JobsFileError naming the file and every bad job.
 */
export function readJobsFile(path: string, registry: JobRegistry): ValidJob[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new JobsFileError(`cannot read ${path}: ${errorMessage(err)}`);
  }
  let items: unknown[];
  try {
    items = parseJobsText(text);
  } catch (err) {
    throw new JobsFileError(`${path}: ${errorMessage(err)}`);
  }
  const { jobs, errors } = validateJobs(items, registry);
  if (errors.length > 0) {
    throw new JobsFileError(
      `${path}: ${errors.length} invalid job(s), nothing sent:\n  ${errors.join('\n  ')}`,
    );
  }
  return jobs;
}

export interface EnqueueResult {
  sent: number;
}

export async function enqueueJobs(options: {
  kafka: Kafka;
  topics: WorkerTopics;
  partitions: number;
  replicationFactor: number;
  jobs: ValidJob[];
  logger: Logger;
  batchSize?: number;
}): Promise<EnqueueResult> {
  const { kafka, topics, jobs, logger } = options;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(
      admin,
      workerTopicConfigs(topics, {
        partitions: options.partitions,
        replicationFactor: options.replicationFactor,
      }),
      logger,
    );
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
  await producer.connect();
  let sent = 0;
  try {
    const size = options.batchSize ?? 500;
    for (let i = 0; i < jobs.length; i += size) {
      const chunk = jobs.slice(i, i + size);
      // One trace per job, started here: its context travels in the message headers (traceparent).
      const spans = chunk.map((job) => startProducerSpan(topics.topic, job));
      try {
        await producer.send({
          topic: topics.topic,
          acks: -1,
          messages: chunk.map((job, j) => ({ key: job.jobID, value: job.value, headers: spans[j]!.headers })),
        });
      } catch (err) {
        for (const span of spans) span.end(err);
        throw err;
      }
      for (const span of spans) span.end();
      sent += chunk.length;
    }
  } finally {
    await producer.disconnect();
  }
  return { sent };
}
