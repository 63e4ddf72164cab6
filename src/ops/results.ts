/**
 * `kafka-worker results`: the outcome events on `<topic>.results` as one readable line each —
 * the last `--last <n>` retained (oldest first), then with `--follow` every new one as it
 * arrives, until the signal aborts (Ctrl-C).
 *
 * Read-only like `dlq list`: a throwaway consumer group that never commits reads the tail of each
 * partition (from `end - n`), and is deleted again afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { JobOutcomeEvent } from '../kafka/results.ts';
import { formatAge, topicSize } from './dlq.ts';

export interface ResultsOptions {
  kafka: Kafka;
  admin: Admin;
  /** `<topic>.results` */
  resultsTopic: string;
  readerGroupPrefix: string;
  /** How many of the newest retained events to print first. */
  last: number;
  follow: boolean;
  /** `--json`: the events as JSON lines instead of readable lines. */
  json: boolean;
  out: (line: string) => void;
  /** Ends a `--follow` run. */
  signal?: AbortSignal;
  /** Gives up when the retained tail cannot be read within this time. */
  timeoutMs?: number;
}

/** `finishedAt  status  jobID  jobType  attempts  duration  age  result or reason: message` */
export function renderResultLine(event: JobOutcomeEvent, now: Date): string {
  const finished = new Date(event.finishedAt);
  const detail =
    event.status === 'failed'
      ? `${event.error?.reason ?? 'unknown'}: ${(event.error?.message ?? '').replace(/\s+/g, ' ')}`
      : JSON.stringify(event.result ?? {});
  return [
    event.finishedAt,
    event.status.padEnd(9),
    event.jobID ?? '-',
    event.jobType ?? '-',
    `attempts=${event.attempts}`,
    `${event.durationMs}ms`,
    `${formatAge(now.getTime() - finished.getTime())} ago`,
    detail.length > 160 ? `${detail.slice(0, 157)}...` : detail,
  ].join('  ');
}

function parseEvent(value: Buffer | null): JobOutcomeEvent | undefined {
  if (value === null) return undefined;
  try {
    return JSON.parse(value.toString('utf8')) as JobOutcomeEvent;
  } catch {
    return undefined;
  }
}

/** Prints the newest `last` events, then (with `follow`) new ones; resolves with how many were printed. */
export async function tailResults(options: ResultsOptions): Promise<number> {
  const { kafka, admin, resultsTopic } = options;
  const topics = await admin.listTopics();
  if (!topics.includes(resultsTopic)) {
    throw new Error(`${resultsTopic} does not exist yet: no worker has handled a job on this topic`);
  }
  const size = await topicSize(admin, resultsTopic);
  const startAt = new Map(size.partitions.map((p) => [p.partition, Math.max(p.low, p.high - options.last)]));
  const ends = new Map(size.partitions.map((p) => [p.partition, p.high]));
  const behind = new Set(
    size.partitions.filter((p) => p.high > startAt.get(p.partition)!).map((p) => p.partition),
  );

  let printed = 0;
  const print = (event: JobOutcomeEvent, raw: string) => {
    options.out(options.json ? raw : renderResultLine(event, new Date()));
    printed++;
  };
  const backlog: Array<{ event: JobOutcomeEvent; raw: string }> = [];
  let caughtUp: () => void = () => {};
  const backlogRead = new Promise<void>((resolve) => {
    caughtUp = resolve;
  });
  let live = false;
  const reached = (partition: number, next: number) => {
    if (next >= (ends.get(partition) ?? 0)) behind.delete(partition);
    if (behind.size === 0) caughtUp();
  };
  if (behind.size === 0) caughtUp();

  const groupId = `${options.readerGroupPrefix}.${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, maxWaitTimeInMs: 250 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [resultsTopic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const event = parseEvent(message.value);
        if (event) {
          const raw = message.value!.toString('utf8');
          if (live) print(event, raw);
          else backlog.push({ event, raw });
        }
        if (!live) reached(partition, Number(message.offset) + 1);
      },
    });
    for (const [partition, offset] of startAt) {
      consumer.seek({ topic: resultsTopic, partition, offset: String(offset) });
    }

    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([backlogRead, timedOut]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') throw new Error(`could not read ${resultsTopic} within ${timeoutMs} ms`);

    backlog.sort((a, b) => a.event.finishedAt.localeCompare(b.event.finishedAt));
    for (const { event, raw } of backlog.slice(-options.last)) print(event, raw);
    live = true;
    if (options.follow && !options.signal?.aborted) {
      await new Promise<void>((resolve) =>
        options.signal?.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    return printed;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
