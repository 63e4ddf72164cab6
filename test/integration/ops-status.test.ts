/**
 * `kafka-worker status` against the real broker: committed and end offsets, lag, the group's
 * members with their decoded assignments, and the dead letters retained.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fetchWorkerStatus, renderWorkerStatus } from '../../src/ops/status.ts';
import { cli, deadLetter, produceMessages } from '../helpers/ops.ts';
import { KafkaProbe, uniqueName, waitUntil } from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');

describe('kafka-worker status', () => {
  let probe: KafkaProbe;
  const topic = uniqueName('ops-status');
  const dlqTopic = `${topic}.dlq`;
  const group = uniqueName('ops-status-group');
  const target = { group, topic, dlqTopic };

  beforeAll(async () => {
    probe = await new KafkaProbe(brokers).connect();
    await probe.createTopics(topic, 3);
    const job = (i: number) => ({ key: `k${i}`, value: JSON.stringify({ i }) });
    await probe.produce(
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ ...job(i), partition: 0 })),
    );
    await probe.produce(
      topic,
      [5, 6, 7].map((i) => ({ ...job(i), partition: 1 })),
    );
    await produceMessages(probe.kafka, dlqTopic, [
      { ...deadLetter({ topic, partition: 0, offset: 1, jobID: 'a', reason: 'tool-error' }), partition: 0 },
      { ...deadLetter({ topic, partition: 1, offset: 2, jobID: 'b', reason: 'invalid-json' }), partition: 1 },
    ]);
    await probe.admin.setOffsets({
      groupId: group,
      topic,
      partitions: [
        { partition: 0, offset: '2' },
        { partition: 1, offset: '3' },
      ],
    });
  });

  afterAll(async () => {
    await probe?.close();
  });

  it('reports committed offset, end offset and lag per partition, and the DLQ size, of a group with no members', async () => {
    const status = await fetchWorkerStatus(probe.admin, target);
    expect(status.partitions).toEqual([
      { partition: 0, committed: 2, end: 5, lag: 3, owner: undefined },
      { partition: 1, committed: 3, end: 3, lag: 0, owner: undefined },
      { partition: 2, committed: -1, end: 0, lag: 0, owner: undefined },
    ]);
    expect(status).toMatchObject({ state: 'Empty', members: [], totalLag: 3 });
    expect(status.dlq).toMatchObject({ exists: true, messages: 2, beyondReplayCursor: 2 });
    const text = renderWorkerStatus(status);
    expect(text).toContain(`Group ${group} on ${topic}: Empty, 0 member(s), total lag 3`);
    expect(text).toMatch(/^0\s+2\s+5\s+3\s+-$/m);
    expect(text).toMatch(/^2\s+-\s+0\s+0\s+-$/m);
    expect(text).toContain('No members');
    expect(text).toContain(`Dead letters: 2 in ${dlqTopic}`);
  });

  it('shows members and their decoded assignment while a consumer is in the group', async () => {
    const consumer = probe.kafka.consumer({ groupId: group, sessionTimeout: 6_000, maxWaitTimeInMs: 200 });
    let joined = false;
    let release: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic] });
      await consumer.run({ autoCommit: false, eachMessage: () => blocked });
      await waitUntil(() => joined, 30_000, 'the consumer to join');
      const status = await fetchWorkerStatus(probe.admin, target);
      expect(status.state).toBe('Stable');
      expect(status.members).toHaveLength(1);
      const member = status.members[0]!;
      expect(member.clientId).toBe('worker-test-probe');
      expect(member.assignment).toEqual({ [topic]: [0, 1, 2] });
      expect(status.partitions.map((p) => p.owner)).toEqual([
        member.memberId,
        member.memberId,
        member.memberId,
      ]);
      const text = renderWorkerStatus(status);
      expect(text).toContain(`${topic}: 0,1,2`);
      expect(text).toMatch(/^0\s+2\s+5\s+3\s+worker-test-probe /m);
    } finally {
      release();
      await consumer.disconnect();
    }
  });

  it('says so when the dead-letter topic does not exist', async () => {
    const status = await fetchWorkerStatus(probe.admin, { ...target, dlqTopic: uniqueName('no-such-dlq') });
    expect(status.dlq.exists).toBe(false);
    expect(renderWorkerStatus(status)).toContain('does not exist yet');
  });

  it('the CLI names a jobs topic that does not exist (not a kafkajs partition error) and exits 1', async () => {
    const missing = uniqueName('no-such-topic');
    const run = cli(['status'], { KAFKA_BROKERS: brokers, KAFKA_TOPIC: missing });
    expect((await run.exited).code).toBe(1);
    expect(run.lines).toEqual([]);
    expect(run.stderr).toEqual([
      `kafka-worker: ${missing} does not exist: no job was enqueued to it and no worker has run on it (KAFKA_TOPIC?)`,
    ]);
  });
});
