import { type KafkaMessage, Partitioners, type RecordMetadata } from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';
import { buildDeadLetterMessage, DLQ_HEADERS } from '../../src/kafka/dead-letter.ts';
import { BatchingPublisher, groupByPartition, type OutboundMessage } from '../../src/kafka/producer.ts';
import { buildResultMessage } from '../../src/kafka/results.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { PermanentError } from '../../src/retry/errors.ts';

const original: KafkaMessage = {
  key: Buffer.from('job-1'),
  value: Buffer.from('{not json'),
  timestamp: '1700000000000',
  attributes: 0,
  offset: '42',
  headers: { trace: Buffer.from('abc') },
};

describe('dead letters and outcome events', () => {
  it('a dead letter keeps the original key, value and headers and says why and where from', () => {
    const msg = buildDeadLetterMessage({
      source: { topic: 'jobs', partition: 3, message: original },
      error: new PermanentError('invalid-json', 'message value is not JSON'),
      attempts: 0,
      jobID: 'job-1',
      failedAt: new Date('2025-01-01T00:00:00Z'),
    });
    expect(msg.key).toEqual(original.key);
    expect(msg.value).toEqual(original.value);
    expect(msg.headers).toMatchObject({
      trace: Buffer.from('abc'),
      [DLQ_HEADERS.errorClass]: 'PermanentError',
      [DLQ_HEADERS.errorReason]: 'invalid-json',
      [DLQ_HEADERS.errorMessage]: 'message value is not JSON',
      [DLQ_HEADERS.originalTopic]: 'jobs',
      [DLQ_HEADERS.originalPartition]: '3',
      [DLQ_HEADERS.originalOffset]: '42',
      [DLQ_HEADERS.attempts]: '0',
      [DLQ_HEADERS.jobID]: 'job-1',
      [DLQ_HEADERS.failedAt]: '2025-01-01T00:00:00.000Z',
    });
    expect(msg.headers?.[DLQ_HEADERS.jobType]).toBeUndefined();
  });

  it('an outcome event is keyed by jobID, or the original key when there is none', () => {
    const event = {
      jobID: null,
      jobType: null,
      status: 'failed' as const,
      error: { class: 'PermanentError', reason: 'invalid-json', message: 'x' },
      attempts: 0,
      durationMs: 1,
      source: { topic: 'jobs', partition: 0, offset: '1' },
      finishedAt: '2025-01-01T00:00:00.000Z',
      worker: 'w',
    };
    expect(buildResultMessage(event, Buffer.from('k')).key).toEqual(Buffer.from('k'));
    const ok = buildResultMessage({ ...event, jobID: 'j', status: 'succeeded' }, null);
    expect(ok.key).toBe('j');
    expect(JSON.parse(String(ok.value)).status).toBe('succeeded');
  });
});

describe('batching publisher', () => {
  it('coalesces publishes made while a send is in flight and acks each after its send', async () => {
    const sends: string[][] = [];
    let release: (() => void) | undefined;
    const producer = {
      send: async ({
        topic,
        messages,
      }: {
        topic: string;
        messages: Array<{ value: unknown; partition?: number }>;
      }) => {
        sends.push(messages.map((m) => String(m.value)));
        await new Promise<void>((r) => {
          release = r;
        });
        return [confirmation(topic, messages[0]?.partition ?? -1)];
      },
    };
    const publisher = new BatchingPublisher({ producer, partitionCount: () => 1, logger: silentLogger() });
    const msg = (v: string): OutboundMessage[] => [{ topic: 't', message: { value: v } }];
    const acked: string[] = [];
    const p1 = publisher.publish(msg('1')).then(() => acked.push('1'));
    const p2 = publisher.publish(msg('2')).then(() => acked.push('2'));
    const p3 = publisher.publish(msg('3')).then(() => acked.push('3'));
    // While the first send is in flight the other two wait (and nothing is acknowledged).
    await vi.waitFor(() => expect(sends).toEqual([['1']]));
    expect(acked).toEqual([]);
    release?.();
    await p1;
    await vi.waitFor(() => expect(sends).toEqual([['1'], ['2', '3']]));
    release?.();
    await Promise.all([p2, p3]);
    expect(acked).toEqual(['1', '2', '3']);
  });

  it('retries a failed send until it succeeds; abort() rejects what is pending', async () => {
    let calls = 0;
    const producer = {
      send: async ({ topic }: { topic: string }) => {
        calls++;
        if (calls < 3) throw new Error('broker down');
        return [confirmation(topic, 0)];
      },
    };
    const publisher = new BatchingPublisher({
      producer,
      partitionCount: () => 1,
      logger: silentLogger(),
      retry: { initialMs: 5, maxMs: 10 },
    });
    await publisher.publish([{ topic: 't', message: { value: 'x' } }]);
    expect(calls).toBe(3);

    const stuck = new BatchingPublisher({
      producer: { send: async () => Promise.reject(new Error('down')) },
      partitionCount: () => 1,
      logger: silentLogger(),
      retry: { initialMs: 5, maxMs: 10 },
    });
    const pending = stuck.publish([{ topic: 't', message: { value: 'y' } }]);
    setTimeout(() => stuck.abort(), 30);
    await expect(pending).rejects.toThrow('aborted');
    await expect(stuck.publish([{ topic: 't', message: { value: 'z' } }])).rejects.toThrow('aborted');
  });

  it('sends each partition in a request of its own and retries one the answer does not confirm', async () => {
    const sends: Array<{ topic: string; partitions: number[] }> = [];
    let lieOnce = true;
    const producer = {
      send: async ({ topic, messages }: { topic: string; messages: Array<{ partition?: number }> }) => {
        const partitions = [...new Set(messages.map((m) => m.partition ?? -1))];
        sends.push({ topic, partitions });
        // An answer that leaves the partition out (what kafkajs' multi-broker retry can return).
        if (partitions[0] === 1 && lieOnce) {
          lieOnce = false;
          return [];
        }
        return [confirmation(topic, partitions[0]!)];
      },
    };
    const publisher = new BatchingPublisher({
      producer,
      partitionCount: () => 3,
      logger: silentLogger(),
      retry: { initialMs: 1, maxMs: 2 },
    });
    const keys = Array.from({ length: 30 }, (_, i) => `job-${i}`);
    await publisher.publish(keys.map((key) => ({ topic: 'r', message: { key, value: key } })));
    expect(sends.every((s) => s.partitions.length === 1)).toBe(true);
    expect(new Set(sends.map((s) => s.partitions[0]))).toEqual(new Set([0, 1, 2]));
    expect(sends.filter((s) => s.partitions[0] === 1)).toHaveLength(2);
  });

  it('partitions keys exactly as kafkajs does', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const messages = Array.from({ length: 50 }, (_, i) => ({
      topic: 't',
      message: { key: `k${i}`, value: 'v' },
    }));
    for (const group of groupByPartition(messages, () => 7)) {
      for (const m of group.messages) {
        const partitionMetadata = Array.from({ length: 7 }, (_, partitionId) => ({
          partitionId,
          leader: 1,
          partitionErrorCode: 0,
          replicas: [],
          isr: [],
        }));
        expect(partitioner({ topic: 't', partitionMetadata, message: { key: m.key, value: 'v' } })).toBe(
          group.partition,
        );
      }
    }
  });
});

function confirmation(topicName: string, partition: number): RecordMetadata {
  return { topicName, partition, errorCode: 0 };
}
