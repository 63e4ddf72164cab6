/**
 * Dead-letter tooling behind `kafka-worker dlq list` and `kafka-worker dlq replay`.
 *
 * Invariants:
 * - Reading `<topic>.dlq` never commits in any consumer group: a throwaway group reads from the
 *   earliest retained record up to the end offsets seen at the start, then leaves and is deleted.
 *   Records appended while it runs (a replayed job failing again) wait for the next run.
 * - A replay re-publishes each dead letter AT MOST ONCE, across interrupted runs and filters.
 *   Progress lives in replay cursors — committed offsets on the DLQ of `<group>.dlq-replay` (runs
 *   without a filter) and `<group>.dlq-replay.<reason>` (runs with `--filter`) — and a record
 *   counts as replayed when its offset lies below the unfiltered cursor or below its reason's
 *   cursor. Records go out in chunks (at most 100, one partition), each chunk together with the
 *   advance of its cursors in ONE Kafka transaction, so a replay killed at any point has, for
 *   every record, either done both or neither (jobs consumers read committed records only, as
 *   kafkajs and the worker do by default). Every replay uses the same
 *   transactional id, so a new run first fences (and aborts the open transaction of) any run
 *   left behind, and two replays of one group cannot interleave. A cursor step the coordinator
 *   refuses for a passing reason (CONCURRENT_TRANSACTIONS right after the previous commit, a
 *   coordinator loading or moving) is retried within the same transaction (src/kafka/transactions.ts).
 * - The re-published message is the original job: same key (so the same partition) and value,
 *   the original headers without the dead-letter ones (x-error-*, x-original-*, x-attempts, …,
 *   so the attempt count starts again), plus `x-replayed-from` (`<dlq>/<partition>/<offset>`) and
 *   `x-replayed-at`. The worker reads no header to decide anything, so a replayed job runs like
 *   a new one; tool-call jobs keep their jobID and so their idempotency key: an effect that did
 *   happen is not repeated (only successful results are recorded by the server).
 */
import { randomUUID } from 'node:crypto';
import type { Admin, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { DLQ_HEADERS } from '../kafka/dead-letter.ts';
import { retryTransactionStep } from '../kafka/transactions.ts';
import type { Logger } from '../observability/logger.ts';

export const REPLAY_HEADERS = {
  replayedFrom: 'x-replayed-from',
  replayedAt: 'x-replayed-at',
} as const;

/** Reason of a dead letter without an `x-error-reason` header (not written by our worker). */
export const UNKNOWN_REASON = 'unknown';

export interface DlqRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  /** Broker timestamp of the dead letter (ms since epoch, as a string). */
  timestamp: string;
  reason: string;
  errorClass: string | undefined;
  errorMessage: string | undefined;
  originalTopic: string | undefined;
  originalPartition: number | undefined;
  originalOffset: string | undefined;
  attempts: number | undefined;
  jobID: string | undefined;
  jobType: string | undefined;
  /** When the worker gave up on the job (x-failed-at), else the record's timestamp. */
  failedAt: Date;
  /** Set when this dead letter is itself a replayed job that failed again. */
  replayedFrom: string | undefined;
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

function optionalNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export function toDlqRecord(message: KafkaMessage, partition: number): DlqRecord {
  const h = message.headers ?? {};
  const failedAtText = headerText(h, DLQ_HEADERS.failedAt);
  const failedAt = failedAtText !== undefined ? new Date(failedAtText) : new Date(Number(message.timestamp));
  return {
    partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: h,
    timestamp: message.timestamp,
    reason: headerText(h, DLQ_HEADERS.errorReason) ?? UNKNOWN_REASON,
    errorClass: headerText(h, DLQ_HEADERS.errorClass),
    errorMessage: headerText(h, DLQ_HEADERS.errorMessage),
    originalTopic: headerText(h, DLQ_HEADERS.originalTopic),
    originalPartition: optionalNumber(headerText(h, DLQ_HEADERS.originalPartition)),
    originalOffset: headerText(h, DLQ_HEADERS.originalOffset),
    attempts: optionalNumber(headerText(h, DLQ_HEADERS.attempts)),
    jobID: headerText(h, DLQ_HEADERS.jobID),
    jobType: headerText(h, DLQ_HEADERS.jobType),
    failedAt: Number.isNaN(failedAt.getTime()) ? new Date(Number(message.timestamp)) : failedAt,
    replayedFrom: headerText(h, REPLAY_HEADERS.replayedFrom),
  };
}

const DEAD_LETTER_HEADER_NAMES = new Set<string>(Object.values(DLQ_HEADERS));

/** The headers a replayed job carries: the original ones, minus the dead-letter ones, plus where from. */
export function replayHeaders(record: DlqRecord, dlqTopic: string, now: Date): IHeaders {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(record.headers)) {
    if (
      DEAD_LETTER_HEADER_NAMES.has(name) ||
      name === REPLAY_HEADERS.replayedFrom ||
      name === REPLAY_HEADERS.replayedAt
    )
      continue;
    headers[name] = value;
  }
  headers[REPLAY_HEADERS.replayedFrom] = `${dlqTopic}/${record.partition}/${record.offset}`;
  headers[REPLAY_HEADERS.replayedAt] = now.toISOString();
  return headers;
}

/** `<group>.dlq-replay` for replays without a filter, `<group>.dlq-replay.<reason>` with one. */
export function replayCursorGroup(group: string, reason?: string): string {
  return reason === undefined
    ? `${group}.dlq-replay`
    : `${group}.dlq-replay.${reason.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** Replay cursors of one group, fetched once per cursor group and advanced in memory. */
export class ReplayCursors {
  readonly #admin: Admin;
  readonly #group: string;
  readonly #dlqTopic: string;
  readonly #byGroup = new Map<string, Promise<Map<number, number>>>();

  constructor(admin: Admin, group: string, dlqTopic: string) {
    this.#admin = admin;
    this.#group = group;
    this.#dlqTopic = dlqTopic;
  }

  /** Next offset the cursor group has not passed, per partition (0 when it never committed). */
  offsets(cursorGroup: string): Promise<Map<number, number>> {
    let offsets = this.#byGroup.get(cursorGroup);
    if (!offsets) {
      offsets = this.#admin
        .fetchOffsets({ groupId: cursorGroup, topics: [this.#dlqTopic] })
        .then(
          (topics) =>
            new Map(
              (topics[0]?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))] as const),
            ),
        );
      this.#byGroup.set(cursorGroup, offsets);
    }
    return offsets;
  }

  async isReplayed(record: DlqRecord): Promise<boolean> {
    const offset = Number(record.offset);
    const [all, byReason] = await Promise.all([
      this.offsets(replayCursorGroup(this.#group)),
      this.offsets(replayCursorGroup(this.#group, record.reason)),
    ]);
    return offset < (all.get(record.partition) ?? 0) || offset < (byReason.get(record.partition) ?? 0);
  }

  async advance(cursorGroup: string, partition: number, next: number): Promise<void> {
    const offsets = await this.offsets(cursorGroup);
    if ((offsets.get(partition) ?? 0) < next) offsets.set(partition, next);
  }
}

export interface DlqReadOptions {
  kafka: Kafka;
  admin: Admin;
  dlqTopic: string;
  /** Prefix of the throwaway reader group (a random suffix is added; the group is deleted after). */
  readerGroupPrefix: string;
  /** Gives up when the DLQ cannot be read to its end within this time. */
  timeoutMs?: number;
  /** Records handed over at once (a replay sends each chunk in one transaction); default 100. */
  chunkSize?: number;
}

/** End offset per partition of a topic, and the number of records it retains. */
export async function topicSize(
  admin: Admin,
  topic: string,
): Promise<{ partitions: Array<{ partition: number; low: number; high: number }>; messages: number }> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const partitions = offsets
    .map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }))
    .sort((a, b) => a.partition - b.partition);
  return { partitions, messages: partitions.reduce((n, p) => n + Math.max(0, p.high - p.low), 0) };
}

/**
 * Calls `onRecords` with every retained DLQ record up to the end offsets seen at the start, in
 * chunks of consecutive records of one partition (at most `chunkSize`), in offset order within
 * each partition and never for two partitions at once. `onRecords` returning 'stop' ends the
 * read early. Resolves with whether the end was reached.
 */
export async function readDeadLetters(
  options: DlqReadOptions,
  onRecords: (records: DlqRecord[]) => Promise<undefined | 'stop'> | undefined | 'stop',
): Promise<{ complete: boolean; ends: Map<number, number> }> {
  const { kafka, admin, dlqTopic } = options;
  const size = await topicSize(admin, dlqTopic);
  const ends = new Map(size.partitions.map((p) => [p.partition, p.high] as const));
  const pending = new Set(size.partitions.filter((p) => p.high > p.low).map((p) => p.partition));
  if (pending.size === 0) return { complete: true, ends };

  const groupId = `${options.readerGroupPrefix}.${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, maxWaitTimeInMs: 250 });
  let stopped = false;
  let failure: unknown;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const reached = (partition: number, next: number) => {
    if (next >= (ends.get(partition) ?? 0)) pending.delete(partition);
    if (pending.size === 0) finish();
  };
  await consumer.connect();
  try {
    // Batches that hold only control records never reach eachBatch; this event still moves us on.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.topic === dlqTopic) reached(e.payload.partition, Number(e.payload.lastOffset) + 1);
    });
    await consumer.subscribe({ topics: [dlqTopic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        const end = ends.get(batch.partition) ?? 0;
        const records = batch.messages
          .filter((m) => Number(m.offset) < end)
          .map((m) => toDlqRecord(m, batch.partition));
        const chunkSize = options.chunkSize ?? 100;
        for (let i = 0; i < records.length; i += chunkSize) {
          if (stopped || failure !== undefined || !isRunning()) return;
          const chunk = records.slice(i, i + chunkSize);
          try {
            if ((await onRecords(chunk)) === 'stop') {
              stopped = true;
              finish();
              return;
            }
          } catch (err) {
            failure = err;
            finish();
            return;
          }
          reached(batch.partition, Number(chunk[chunk.length - 1]!.offset) + 1);
          await heartbeat();
        }
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = options.timeoutMs ?? 120_000;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([done, timedOut]).finally(() => clearTimeout(timer));
    if (failure !== undefined) throw failure;
    if (outcome === 'timeout') {
      throw new Error(
        `could not read ${dlqTopic} to its end within ${timeoutMs} ms (partitions left: ${[...pending].join(', ')})`,
      );
    }
    return { complete: !stopped, ends };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}

export interface DlqListEntry extends DlqRecord {
  replayed: boolean;
}

export async function listDeadLetters(
  options: DlqReadOptions & { group: string; filter?: string[] | undefined },
): Promise<DlqListEntry[]> {
  const cursors = new ReplayCursors(options.admin, options.group, options.dlqTopic);
  const entries: DlqListEntry[] = [];
  await readDeadLetters(options, async (records) => {
    for (const record of records) {
      if (options.filter && !options.filter.includes(record.reason)) continue;
      entries.push({ ...record, replayed: await cursors.isReplayed(record) });
    }
    return undefined;
  });
  return entries.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
}

export interface ReplayOptions extends DlqReadOptions {
  group: string;
  /** The jobs topic the dead letters are re-published to. */
  topic: string;
  /** Only records whose x-error-reason is one of these; all when undefined. */
  filter?: string[] | undefined;
  dryRun?: boolean;
  /** Re-publish at most this many, then stop (the cursors keep the place). */
  limit?: number | undefined;
  logger: Logger;
  /** One line per record sent (or, in a dry run, that would be sent). */
  report?: (line: string, record: DlqRecord) => void;
  now?: () => Date;
}

export interface ReplaySummary {
  replayed: number;
  alreadyReplayed: number;
  filteredOut: number;
  /** True when every record up to the end offsets seen at the start was looked at. */
  complete: boolean;
  dryRun: boolean;
}

/** The transactional id every replay of `group` uses: a new run fences any older one. */
export function replayTransactionalId(group: string): string {
  return `${group}.dlq-replay`;
}

export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const { kafka, admin, group, topic, dlqTopic, filter, logger } = options;
  const dryRun = options.dryRun ?? false;
  const now = options.now ?? (() => new Date());
  const summary: ReplaySummary = { replayed: 0, alreadyReplayed: 0, filteredOut: 0, complete: false, dryRun };
  const cursorGroupOf = (record: DlqRecord) =>
    filter === undefined ? replayCursorGroup(group) : replayCursorGroup(group, record.reason);

  let producer: Producer | undefined;
  if (!dryRun) {
    producer = kafka.producer({
      transactionalId: replayTransactionalId(group),
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // A chunk's transaction starts right after the previous one committed; its first produce
      // meets CONCURRENT_TRANSACTIONS until the coordinator has finished: ask again soon.
      retry: { initialRetryTime: 50 },
    });
    await producer.connect();
    // InitProducerId: fences an older replay of this group and aborts the transaction it left
    // open, so the cursors read next are final.
    await (await producer.transaction()).abort();
  }
  const cursors = new ReplayCursors(admin, group, dlqTopic);
  try {
    const { complete, ends } = await readDeadLetters(options, async (records) => {
      const chosen: DlqRecord[] = [];
      let limited = false;
      for (const record of records) {
        if (filter !== undefined && !filter.includes(record.reason)) {
          summary.filteredOut++;
        } else if (await cursors.isReplayed(record)) {
          summary.alreadyReplayed++;
        } else if (options.limit !== undefined && summary.replayed + chosen.length >= options.limit) {
          limited = true;
          break;
        } else {
          chosen.push(record);
        }
      }
      const messages = chosen.map((record) => ({
        key: record.key,
        value: record.value,
        headers: replayHeaders(record, dlqTopic, now()),
      }));
      if (producer && chosen.length > 0) {
        // The chunk's messages and the cursors past them: all committed, or none.
        const advance = new Map<string, number>();
        for (const record of chosen) advance.set(cursorGroupOf(record), Number(record.offset) + 1);
        const partition = chosen[0]!.partition;
        const tx = await producer.transaction();
        try {
          await tx.send({ topic, messages });
          for (const [cursorGroup, next] of advance) {
            await retryTransactionStep(
              'replay: advancing the cursor',
              () =>
                tx.sendOffsets({
                  consumerGroupId: cursorGroup,
                  topics: [{ topic: dlqTopic, partitions: [{ partition, offset: String(next) }] }],
                }),
              logger,
            );
          }
          await tx.commit();
        } catch (err) {
          await tx.abort().catch(() => undefined);
          throw err;
        }
        for (const [cursorGroup, next] of advance) await cursors.advance(cursorGroup, partition, next);
      }
      for (const [i, record] of chosen.entries()) {
        const where = `${dlqTopic}/${record.partition}/${record.offset}`;
        const what = `jobID=${record.jobID ?? '-'} reason=${record.reason}`;
        if (producer) {
          logger.info(
            { from: where, topic, jobID: record.jobID, reason: record.reason },
            'dead letter replayed',
          );
          options.report?.(`replayed ${where} -> ${topic} ${what}`, record);
        } else {
          const kept = Object.keys(messages[i]!.headers).join(',');
          options.report?.(`would replay ${where} -> ${topic} ${what} headers=${kept}`, record);
        }
      }
      summary.replayed += chosen.length;
      const atLimit = options.limit !== undefined && summary.replayed >= options.limit;
      return limited || atLimit ? 'stop' : undefined;
    });
    summary.complete = complete;
    if (producer && complete) {
      // Everything up to the ends seen at the start was looked at: move this run's cursors there,
      // so the next run and `dlq list` need not look at these records again.
      const groups =
        filter === undefined ? [replayCursorGroup(group)] : filter.map((r) => replayCursorGroup(group, r));
      const tx = await producer.transaction();
      try {
        for (const cursorGroup of groups) {
          const offsets = await cursors.offsets(cursorGroup);
          const partitions = [...ends]
            .filter(([partition, end]) => end > (offsets.get(partition) ?? 0))
            .map(([partition, end]) => ({ partition, offset: String(end) }));
          if (partitions.length > 0) {
            await retryTransactionStep(
              'replay: moving the cursor to the end',
              () =>
                tx.sendOffsets({ consumerGroupId: cursorGroup, topics: [{ topic: dlqTopic, partitions }] }),
              logger,
            );
          }
        }
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    }
    return summary;
  } finally {
    await producer?.disconnect().catch(() => undefined);
  }
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 > 0 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function renderDeadLetters(entries: DlqListEntry[], dlqTopic: string, now: Date): string {
  if (entries.length === 0) return `${dlqTopic}: no dead letters\n`;
  const rows = entries.map((e) => [
    `${e.partition}/${e.offset}`,
    formatAge(now.getTime() - e.failedAt.getTime()),
    e.reason,
    e.jobID ?? '-',
    e.jobType ?? '-',
    e.attempts === undefined ? '-' : String(e.attempts),
    e.originalTopic === undefined
      ? '-'
      : `${e.originalTopic}/${e.originalPartition ?? '?'}/${e.originalOffset ?? '?'}`,
    e.replayed ? 'replayed' : 'pending',
    (e.errorMessage ?? '').replace(/\s+/g, ' ').slice(0, 120),
  ]);
  const pending = entries.filter((e) => !e.replayed).length;
  return `${renderTable(
    [
      'DLQ P/OFFSET',
      'AGE',
      'REASON',
      'JOB ID',
      'JOB TYPE',
      'ATTEMPTS',
      'ORIGINAL TOPIC/P/OFFSET',
      'STATE',
      'ERROR',
    ],
    rows,
  )}\n\n${entries.length} dead letter(s) in ${dlqTopic}, ${pending} not replayed yet\n`;
}
