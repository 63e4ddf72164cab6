import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { buildDeadLetterMessage, DLQ_HEADERS } from '../../src/kafka/dead-letter.ts';
import { BatchingPublisher, type OutboundMessage } from '../../src/kafka/producer.ts';
import { buildResultMessage } from '../../src/kafka/results.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { PermanentError } from '../../src/worker/errors.ts';

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
      sendBatch: async ({
        topicMessages,
      }: {
        topicMessages?: Array<{ messages: Array<{ value: unknown }> }>;
      }) => {
        sends.push((topicMessages ?? []).flatMap((t) => t.messages.map((m) => String(m.value))));
        await new Promise<void>((r) => {
          release = r;
        });
        return [];
      },
    };
    const publisher = new BatchingPublisher({ producer, logger: silentLogger() });
    const msg = (v: string): OutboundMessage[] => [{ topic: 't', message: { value: v } }];
    const acked: string[] = [];
    const p1 = publisher.publish(msg('1')).then(() => acked.push('1'));
    const p2 = publisher.publish(msg('2')).then(() => acked.push('2'));
    const p3 = publisher.publish(msg('3')).then(() => acked.push('3'));
    await new Promise((r) => setTimeout(r, 10));
    expect(sends).toEqual([['1']]);
    expect(acked).toEqual([]);
    release?.();
    await p1;
    await new Promise((r) => setTimeout(r, 10));
    expect(sends).toEqual([['1'], ['2', '3']]);
    release?.();
    await Promise.all([p2, p3]);
    expect(acked).toEqual(['1', '2', '3']);
  });

  it('retries a failed send until it succeeds; abort() rejects what is pending', async () => {
    let calls = 0;
    const producer = {
      sendBatch: async () => {
        calls++;
        if (calls < 3) throw new Error('broker down');
        return [];
      },
    };
    const publisher = new BatchingPublisher({
      producer,
      logger: silentLogger(),
      retry: { initialMs: 5, maxMs: 10 },
    });
    await publisher.publish([{ topic: 't', message: { value: 'x' } }]);
    expect(calls).toBe(3);

    const stuck = new BatchingPublisher({
      producer: { sendBatch: async () => Promise.reject(new Error('down')) },
      logger: silentLogger(),
      retry: { initialMs: 5, maxMs: 10 },
    });
    const pending = stuck.publish([{ topic: 't', message: { value: 'y' } }]);
    setTimeout(() => stuck.abort(), 30);
    await expect(pending).rejects.toThrow('aborted');
    await expect(stuck.publish([{ topic: 't', message: { value: 'z' } }])).rejects.toThrow('aborted');
  });
});
