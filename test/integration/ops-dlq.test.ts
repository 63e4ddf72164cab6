/**
 * `dlq list` / `dlq replay` against the real broker: listing without committing, dry runs that
 * send nothing, filters, limits (an interrupted replay), and the guarantee that matters — across
 * runs and filters no dead letter is re-published twice. Then a real worker and server: a job
 * dead-lettered for a missing note succeeds once the note exists and `kafka-worker dlq replay`
 * (exit 0, nothing on stderr) re-publishes it. Last, the cursor step is retried on
 * CONCURRENT_TRANSACTIONS.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/kafka/dead-letter.ts';
import { retryTransactionStep } from '../../src/kafka/transactions.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  headerText,
  listDeadLetters,
  REPLAY_HEADERS,
  replayCursorGroup,
  replayDeadLetters,
} from '../../src/ops/dlq.ts';
import type { PermanentReason } from '../../src/retry/errors.ts';
import { cli, deadLetter, produceMessages } from '../helpers/ops.ts';
import {
  KafkaProbe,
  type Pipeline,
  quietWindow,
  startPipeline,
  type TopicWatch,
  toolCallJob,
  uniqueName,
  waitUntil,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('kafka-worker dlq list / replay', () => {
  let probe: KafkaProbe;
  let jobs: TopicWatch;
  const topic = uniqueName('ops-dlq');
  const dlqTopic = `${topic}.dlq`;
  const group = uniqueName('ops-dlq-group');
  const logger = silentLogger();
  const reasons: PermanentReason[] = [
    'tool-error',
    'invalid-json',
    'tool-error',
    'tool-error',
    'invalid-json',
    'tool-error',
    'invalid-json',
    'tool-error',
  ];
  const ids = reasons.map((_, i) => `dl-${i}`);
  const common = () => ({
    kafka: probe.kafka,
    admin: probe.admin,
    dlqTopic,
    group,
    topic,
    readerGroupPrefix: `${group}.test-reader`,
    logger,
  });

  beforeAll(async () => {
    probe = await new KafkaProbe(brokers).connect();
    await probe.createTopics(topic, 2);
    await produceMessages(
      probe.kafka,
      dlqTopic,
      reasons.map((reason, i) => ({
        ...deadLetter({
          topic,
          partition: i % 2,
          offset: 100 + i,
          jobID: ids[i]!,
          reason,
          headers: {
            'x-tenant': 'acme',
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          },
        }),
        partition: i % 2,
      })),
    );
    jobs = await probe.watch(topic);
  });

  afterAll(async () => {
    await jobs?.stop();
    await probe?.close();
  });

  it('lists every dead letter with its reason, origin, jobID and age, and commits nothing', async () => {
    const entries = await listDeadLetters(common());
    expect(entries.map((e) => e.jobID).sort()).toEqual([...ids].sort());
    const first = entries.find((e) => e.jobID === 'dl-0')!;
    expect(first).toMatchObject({
      partition: 0,
      reason: 'tool-error',
      originalTopic: topic,
      originalPartition: 0,
      originalOffset: '100',
      attempts: 3,
      jobType: 'tool-call',
      replayed: false,
    });
    expect(Date.now() - first.failedAt.getTime()).toBeLessThan(60_000);
    const filtered = await listDeadLetters({ ...common(), filter: ['invalid-json'] });
    expect(filtered.map((e) => e.jobID).sort()).toEqual(['dl-1', 'dl-4', 'dl-6']);
    const groups = (await probe.admin.listGroups()).groups.map((g) => g.groupId);
    expect(groups.filter((g) => g.startsWith(group))).toEqual([]);
  });

  it('dry run: prints what would be sent, sends and commits nothing', async () => {
    const lines: string[] = [];
    const summary = await replayDeadLetters({
      ...common(),
      dryRun: true,
      report: (line) => lines.push(line),
    });
    expect(summary).toMatchObject({ replayed: 8, dryRun: true, complete: true });
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatch(/^would replay .*\.dlq\/\d\/\d+ -> .* jobID=dl-\d reason=/);
    expect(lines[0]).toContain('x-tenant');
    expect(lines[0]).not.toContain(DLQ_HEADERS.errorReason);
    expect((await probe.ends(topic)).get(0)).toBe(0);
    expect(
      [...(await probe.committed(replayCursorGroup(group), dlqTopic)).values()].every((o) => o < 0),
    ).toBe(true);
  });

  it('--filter replays only that reason, with the original key, value and headers, attempts reset', async () => {
    const summary = await replayDeadLetters({ ...common(), filter: ['invalid-json'] });
    expect(summary).toMatchObject({ replayed: 3, filteredOut: 5, alreadyReplayed: 0, complete: true });
    await jobs.waitFor((events) => events.length >= 3, 30_000);
    const sent = jobs.messages.map((m) => ({
      key: String(m.key),
      headers: m.headers ?? {},
      value: String(m.value),
    }));
    expect(sent.map((m) => m.key).sort()).toEqual(['dl-1', 'dl-4', 'dl-6']);
    for (const m of sent) {
      expect(JSON.parse(m.value)).toMatchObject({ jobID: m.key, jobType: 'tool-call' });
      expect(headerText(m.headers, 'x-tenant')).toBe('acme');
      expect(headerText(m.headers, 'traceparent')).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
      for (const name of Object.values(DLQ_HEADERS)) expect(m.headers[name], name).toBeUndefined();
      expect(headerText(m.headers, REPLAY_HEADERS.replayedFrom)).toMatch(
        new RegExp(`^${dlqTopic}/[01]/\\d+$`),
      );
      expect(new Date(headerText(m.headers, REPLAY_HEADERS.replayedAt) ?? '').getTime()).toBeGreaterThan(0);
    }
  });

  it('an interrupted replay (--limit) resumes where it stopped; nothing is ever sent twice', async () => {
    const first = await replayDeadLetters({ ...common(), limit: 2 });
    expect(first).toMatchObject({ replayed: 2, complete: false });
    const second = await replayDeadLetters({ ...common() });
    // The three invalid-json letters were replayed by the filtered run: skipped, not re-sent.
    expect(second).toMatchObject({ replayed: 3, complete: true });
    expect(second.alreadyReplayed).toBe(5);
    const third = await replayDeadLetters({ ...common() });
    expect(third).toMatchObject({ replayed: 0, complete: true });
    const filteredAgain = await replayDeadLetters({ ...common(), filter: ['invalid-json', 'tool-error'] });
    expect(filteredAgain.replayed).toBe(0);

    await jobs.waitFor(() => jobs.messages.length >= 8, 30_000);
    await quietWindow(); // no duplicate follows
    const from = jobs.messages.map((m) => headerText(m.headers, REPLAY_HEADERS.replayedFrom));
    expect(from).toHaveLength(8);
    expect(new Set(from).size).toBe(8);
    expect(jobs.messages.map((m) => String(m.key)).sort()).toEqual([...ids].sort());

    const entries = await listDeadLetters(common());
    expect(entries.every((e) => e.replayed)).toBe(true);
  });
});

describe('a replayed job runs on the worker', () => {
  let probe: KafkaProbe;
  let results: TopicWatch;
  const topic = uniqueName('ops-replay-e2e');
  const group = uniqueName('ops-replay-e2e-group');

  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ brokers, topic, group, partitions: 2 });
    ({ probe, results } = pipeline);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('dead-letters a read of a missing note, then succeeds on replay once the note exists', async () => {
    const title = uniqueName('late note');
    const jobID = uniqueName('read-late');
    await probe.produceJobs(topic, [toolCallJob(jobID, 'read_note', { title })]);
    await results.waitFor((events) => events.some((e) => e.jobID === jobID && e.status === 'failed'));

    await probe.produceJobs(topic, [
      toolCallJob(uniqueName('save'), 'save_note', { title, content: 'now here' }),
    ]);
    await results.waitFor((events) => events.filter((e) => e.status === 'succeeded').length >= 1);

    // Dead letters of another reason on both partitions: the filtered replay then also moves its
    // cursor past them in a second transaction right after the first one commits.
    await produceMessages(
      probe.kafka,
      `${topic}.dlq`,
      [0, 1].map((partition) => ({
        ...deadLetter({
          topic,
          partition,
          offset: 1_000 + partition,
          jobID: uniqueName('other'),
          reason: 'invalid-json',
        }),
        partition,
      })),
    );
    // As an operator runs it, against the live worker: exit 0 with the summary, and stderr free
    // of warnings and errors (the cursor transaction right after a chunk's commit used to meet
    // CONCURRENT_TRANSACTIONS and exit 1 after a successful replay).
    const replay = cli(['dlq', 'replay', '--filter', 'tool-error'], {
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      MCP_CONSUMER_GROUP: group,
    });
    const { code } = await replay.exited;
    expect(code, replay.stderr.join('\n')).toBe(0);
    expect(replay.lines.at(-1)).toBe(
      `replayed 1 dead letter(s) to ${topic}; 0 replayed before, 2 filtered out`,
    );
    expect(replay.stderr).toEqual([]);
    const events = await results.waitFor((all) =>
      all.some((e) => e.jobID === jobID && e.status === 'succeeded'),
    );
    const replayed = events.find((e) => e.jobID === jobID && e.status === 'succeeded')!;
    expect(replayed.attempts).toBe(1);
    expect(JSON.stringify(replayed.result)).toContain('now here');
    await waitUntil(
      () => probe.committedAtEnd(group, topic),
      30_000,
      'the worker to commit the replayed job',
    );
  });
});

describe('the replay cursor transaction right after a commit', () => {
  it('is retried while the coordinator reports CONCURRENT_TRANSACTIONS, and commits', async () => {
    // A transaction that starts with sendOffsets right after the previous commit is refused
    // with CONCURRENT_TRANSACTIONS until the commit markers are written (most of the time on
    // this broker without the retry). Twenty in a row must all commit.
    const probe = await new KafkaProbe(brokers).connect();
    const topic = uniqueName('tx-retry');
    await probe.createTopics(topic, 2);
    const producer = probe.kafka.producer({
      transactionalId: uniqueName('tx-retry'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const group = uniqueName('tx-retry-cursor');
    const rounds = 20;
    try {
      for (let i = 1; i <= rounds; i++) {
        const first = await producer.transaction();
        await first.send({ topic, messages: [{ value: `m${i}`, partition: 0 }] });
        await first.commit();
        const cursor = await producer.transaction();
        await retryTransactionStep(
          'test cursor',
          () =>
            cursor.sendOffsets({
              consumerGroupId: group,
              topics: [{ topic, partitions: [{ partition: 1, offset: String(i) }] }],
            }),
          silentLogger(),
        );
        await cursor.commit();
      }
      // EndTxn returns before the coordinator has written the commit markers; the group shows
      // a transactional offset only once its marker is in __consumer_offsets, so wait for it.
      await waitUntil(
        async () => (await probe.committed(group, topic)).get(1) === rounds,
        30_000,
        `the last cursor offset (${rounds}) to be visible to OffsetFetch`,
      );
    } finally {
      await producer.disconnect();
      await probe.close();
    }
  });
});
