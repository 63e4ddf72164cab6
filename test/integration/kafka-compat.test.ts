/**
 * Proves that kafkajs 2.2.4 works against the broker the tests run on (the version pinned in
 * scripts/kafka/pom.xml — Kafka 4.0 dropped old protocol versions, KIP-896): every protocol call
 * the worker relies on is exercised here on a real broker — produce (plain, gzip, idempotent),
 * fetch, the classic consumer-group protocol (join/sync/heartbeat/leave), offset commit/fetch,
 * and the admin calls (createTopics, fetchTopicOffsets, fetchOffsets, describeGroups, listGroups,
 * deleteGroups, describeCluster, deleteTopics).
 */
import { randomUUID } from 'node:crypto';
import {
  type Admin,
  AssignerProtocol,
  CompressionTypes,
  type Consumer,
  type IHeaders,
  Kafka,
  logLevel,
  Partitioners,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { quietWindow } from '../helpers/worker-stack.ts';

const PARTITIONS = 4;
/** The broker's minimum (group.min.session.timeout.ms), so outliving it takes little time. */
const SESSION_TIMEOUT_MS = 6_000;
/** disconnect() waits for the fetch long-poll in flight: keep it short (kafkajs default 5 s). */
const FETCH_MAX_WAIT_MS = 200;
const suffix = randomUUID().slice(0, 8);
const topic = `compat-${suffix}`;
const soloGroup = `compat-solo-${suffix}`;
const pairGroup = `compat-pair-${suffix}`;
const txGroup = `compat-tx-${suffix}`;

interface Received {
  partition: number;
  offset: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

let kafka: Kafka;
let admin: Admin;
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = new Kafka({
    clientId: 'kafka-compat-test',
    brokers: inject('kafkaBrokers').split(','),
    logLevel: logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await Promise.allSettled(consumers.map((c) => c.disconnect()));
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

describe('kafkajs 2.2.4 against the test broker', () => {
  it('describes the cluster and creates a 4-partition topic', async () => {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.length).toBeGreaterThanOrEqual(1);
    expect(cluster.clusterId).toBeTruthy();
    expect(cluster.controller).not.toBeNull();

    expect(
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }),
    ).toBe(true);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(PARTITIONS);
    expect(await admin.listTopics()).toContain(topic);
    // createTopics' waitForLeaders reads metadata, which can name a leader before its log takes
    // writes. A produce then fails for some partitions, and kafkajs' plain (non-idempotent)
    // producer retries the whole request — partitions already written included — so the exact
    // count below would see duplicates. ListOffsets is answered by each partition's leader log.
    await waitFor(
      () =>
        admin.fetchTopicOffsets(topic).then(
          (o) => o.length === PARTITIONS,
          () => false,
        ),
      'every partition leader to answer ListOffsets',
    );
  });

  it('produces keyed messages with headers: plain, gzip and idempotent', async () => {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const plain = await producer.send({ topic, messages: messages(0, 20) });
    const gzip = await producer.send({
      topic,
      compression: CompressionTypes.GZIP,
      messages: messages(20, 10),
    });
    await producer.disconnect();

    const idempotent = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await idempotent.connect();
    const acked = await idempotent.send({ topic, messages: messages(30, 10) });
    await idempotent.disconnect();

    for (const record of [...plain, ...gzip, ...acked]) expect(record.errorCode).toBe(0);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toHaveLength(PARTITIONS);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(40);
    // murmur2 of these 40 keys puts messages on every partition, which the group tests rely on.
    for (const p of offsets) expect(Number(p.high)).toBeGreaterThan(0);
  });

  it('consumes in a group with autoCommit off and manual commitOffsets; admin sees the commits', async () => {
    const consumer = track(
      kafka.consumer({ groupId: soloGroup, heartbeatInterval: 500, maxWaitTimeInMs: FETCH_MAX_WAIT_MS }),
    );
    const received: Received[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        received.push(decode(partition, message));
        const next = (BigInt(message.offset) + 1n).toString();
        await consumer.commitOffsets([{ topic, partition, offset: next }]);
      },
    });
    await waitFor(() => received.length >= 40, 'all 40 messages');

    expect(new Set(received.map((m) => m.key)).size).toBe(40);
    for (const m of received) {
      const i = Number(m.key.slice('key-'.length));
      expect(JSON.parse(m.value)).toEqual({ i });
      expect(m.headers).toEqual({ 'x-job-id': `job-${i}`, 'x-source': 'compat' });
    }
    // Order holds within each partition.
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = received.filter((m) => m.partition === p).map((m) => Number(m.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }

    const described = await admin.describeGroups([soloGroup]);
    expect(described.groups[0]).toMatchObject({
      groupId: soloGroup,
      state: 'Stable',
      protocolType: 'consumer',
    });
    expect(described.groups[0]?.members).toHaveLength(1);

    const committed = await admin.fetchOffsets({ groupId: soloGroup, topics: [topic] });
    const high = await admin.fetchTopicOffsets(topic);
    expect(byPartition(committed[0]!.partitions)).toEqual(
      byPartition(high.map((p) => ({ ...p, offset: p.high }))),
    );

    await consumer.disconnect(); // LeaveGroup
    expect((await admin.describeGroups([soloGroup])).groups[0]?.state).toBe('Empty');
  });

  it('resumes a group from its committed offsets', async () => {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, messages: messages(100, 4) });
    await producer.disconnect();

    const consumer = track(
      kafka.consumer({ groupId: soloGroup, heartbeatInterval: 500, maxWaitTimeInMs: FETCH_MAX_WAIT_MS }),
    );
    const received: Received[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        received.push(decode(partition, message));
        await consumer.commitOffsets([
          { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ]);
      },
    });
    await waitFor(() => received.length >= 4, 'the 4 new messages');
    await quietWindow(); // nothing old may trickle in
    expect(received.map((m) => m.key).sort()).toEqual(['key-100', 'key-101', 'key-102', 'key-103']);
    await consumer.disconnect();
  });

  it('splits the partitions between two consumers of one group and rebalances when one leaves', async () => {
    const assignments = new Map<string, number[]>();
    const heartbeats = new Map<string, number>();
    const lastHeartbeat = new Map<string, number>();
    const received = new Map<string, Received[]>();
    const start = async (name: string) => {
      const consumer = track(
        kafka.consumer({
          groupId: pairGroup,
          heartbeatInterval: 500,
          sessionTimeout: SESSION_TIMEOUT_MS,
          maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
        }),
      );
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        assignments.set(name, [...(event.payload.memberAssignment[topic] ?? [])].sort());
      });
      consumer.on(consumer.events.HEARTBEAT, () => {
        heartbeats.set(name, (heartbeats.get(name) ?? 0) + 1);
        lastHeartbeat.set(name, Date.now());
      });
      received.set(name, []);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          received.get(name)!.push(decode(partition, message));
          await consumer.commitOffsets([
            { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
          ]);
        },
      });
      return consumer;
    };

    await start('a');
    await waitFor(() => assignments.get('a')?.length === PARTITIONS, 'a to own all partitions');
    const b = await start('b');
    await waitFor(
      () => assignments.get('a')?.length === 2 && assignments.get('b')?.length === 2,
      'a 2/2 split after b joined',
    );
    const [ownedByA, ownedByB] = [assignments.get('a')!, assignments.get('b')!];
    expect([...ownedByA, ...ownedByB].sort()).toEqual([0, 1, 2, 3]);

    const described = await admin.describeGroups([pairGroup]);
    const group = described.groups[0]!;
    expect(group).toMatchObject({
      state: 'Stable',
      protocolType: 'consumer',
      protocol: 'RoundRobinAssigner',
    });
    expect(group.members).toHaveLength(2);
    const assigned = group.members.flatMap(
      (m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [],
    );
    expect(assigned.sort()).toEqual([0, 1, 2, 3]);

    // New messages go to whoever owns their partition, each exactly once.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, messages: messages(200, 40) });
    await producer.disconnect();
    await waitFor(() => received.get('a')!.length + received.get('b')!.length >= 40, 'the 40 messages');
    for (const m of received.get('a')!) expect(ownedByA).toContain(m.partition);
    for (const m of received.get('b')!) expect(ownedByB).toContain(m.partition);
    expect(received.get('a')!.length).toBeGreaterThan(0);
    expect(received.get('b')!.length).toBeGreaterThan(0);

    // Heartbeats keep both members in the group past the session timeout without a rebalance.
    const before = { ...Object.fromEntries(assignments) };
    const heartbeatsFrom = Date.now();
    await waitFor(
      () => ['a', 'b'].every((name) => (lastHeartbeat.get(name) ?? 0) > heartbeatsFrom + SESSION_TIMEOUT_MS),
      'heartbeats of both members later than one session timeout from now',
    );
    expect(heartbeats.get('a')).toBeGreaterThan(0);
    expect(heartbeats.get('b')).toBeGreaterThan(0);
    expect(Object.fromEntries(assignments)).toEqual(before);

    await b.disconnect(); // LeaveGroup: a takes everything back
    await waitFor(() => assignments.get('a')?.length === PARTITIONS, 'a to own all partitions again');
    expect((await admin.describeGroups([pairGroup])).groups[0]?.members).toHaveLength(1);
  });

  it('commits consumed offsets inside a transaction (sendOffsets)', async () => {
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionalId: `compat-tx-${suffix}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic, messages: messages(300, 2) });
    await tx.sendOffsets({
      consumerGroupId: txGroup,
      topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }],
    });
    await tx.commit();
    await producer.disconnect();
    // EndTxn returns before the commit markers are written; until then the offset is pending.
    let offset: string | undefined;
    await waitFor(
      async () => {
        const committed = await admin.fetchOffsets({ groupId: txGroup, topics: [topic] });
        offset = committed[0]?.partitions.find((p) => p.partition === 0)?.offset;
        return offset === '1';
      },
      'the transactional offset commit',
      10_000,
    ).catch(() => {});
    expect(offset).toBe('1');
  });

  it('lists and deletes the groups once their members are gone', async () => {
    await Promise.all(consumers.map((c) => c.disconnect()));
    const listed = (await admin.listGroups()).groups.map((g) => g.groupId);
    expect(listed).toEqual(expect.arrayContaining([soloGroup, pairGroup]));

    const deleted = await admin.deleteGroups([soloGroup, pairGroup, txGroup]);
    for (const result of deleted) expect(result.errorCode).toBe(0);
    const after = (await admin.listGroups()).groups.map((g) => g.groupId);
    expect(after).not.toContain(soloGroup);
    expect(after).not.toContain(pairGroup);
  });
});

function messages(from: number, count: number) {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    return {
      key: `key-${i}`,
      value: JSON.stringify({ i }),
      headers: { 'x-job-id': `job-${i}`, 'x-source': Buffer.from('compat') },
    };
  });
}

function decode(
  partition: number,
  message: { offset: string; key: Buffer | null; value: Buffer | null; headers?: IHeaders },
): Received {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
  return {
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? '',
    value: message.value?.toString() ?? '',
    headers,
  };
}

function byPartition(partitions: Array<{ partition: number; offset: string }>): Record<number, string> {
  return Object.fromEntries(partitions.map((p) => [p.partition, p.offset]));
}

function track(consumer: Consumer): Consumer {
  consumers.push(consumer);
  return consumer;
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}
