/**
 * Helpers for the ops tests (`kafka-worker status`, `dlq list`, `dlq replay`, `results`): dead
 * letters as the worker writes them, produced with their headers; the CLI run as a process.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Kafka, KafkaMessage, Message } from 'kafkajs';
import { buildDeadLetterMessage } from '../../src/kafka/dead-letter.ts';
import { IDEMPOTENT_PRODUCER_CONFIG } from '../../src/kafka/producer.ts';
import { PermanentError, type PermanentReason } from '../../src/retry/errors.ts';
import { REPO } from './processes.ts';
import { toolCallJob, WORKER_ENTRY } from './worker-stack.ts';

export interface CliRun {
  lines: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Closes our end of its stdout, as `| head -1` does once it has its line. */
  closeStdout(): void;
}

/** Runs `kafka-worker <args>` as a process with only `env` (plus PATH and HOME). */
export function cli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [WORKER_ENTRY, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    lines,
    stderr,
    exited,
    kill: (signal) => child.kill(signal),
    closeStdout: () => child.stdout.destroy(),
  };
}

/** The dead letter of a save_note job `jobID` that sat at `offset` of `topic`/`partition`. */
export function deadLetter(options: {
  topic: string;
  partition: number;
  offset: number;
  jobID: string;
  reason: PermanentReason;
  headers?: Record<string, string>;
}): Message {
  const job = toolCallJob(options.jobID, 'save_note', { title: options.jobID, content: 'x' });
  const message = {
    key: Buffer.from(options.jobID),
    value: Buffer.from(JSON.stringify(job)),
    headers: options.headers ?? {},
    offset: String(options.offset),
    timestamp: String(Date.now() - 3_600_000),
    attributes: 0,
  } as KafkaMessage;
  return buildDeadLetterMessage({
    source: { topic: options.topic, partition: options.partition, message },
    error: new PermanentError(options.reason, `failed: ${options.reason}`),
    attempts: 3,
    jobID: options.jobID,
    jobType: 'tool-call',
  });
}

/** Produces messages with their headers and explicit partitions (acks=all). */
export async function produceMessages(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer(IDEMPOTENT_PRODUCER_CONFIG);
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
