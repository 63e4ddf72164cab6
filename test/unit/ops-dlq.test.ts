/**
 * Pure parts of the ops tooling: how a dead letter is read and turned back into a job, replay
 * cursor names, the tables, and decoding a member's partition assignment.
 */
import { AssignerProtocol, type KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { buildDeadLetterMessage, DLQ_HEADERS } from '../../src/kafka/dead-letter.ts';
import {
  formatAge,
  REPLAY_HEADERS,
  renderTable,
  replayCursorGroup,
  replayHeaders,
  toDlqRecord,
  UNKNOWN_REASON,
} from '../../src/ops/dlq.ts';
import { decodeAssignment } from '../../src/ops/status.ts';
import { PermanentError } from '../../src/retry/errors.ts';

function dlqMessage(headers: Record<string, string> = {}): KafkaMessage {
  const original = {
    key: Buffer.from('job-1'),
    value: Buffer.from('{"jobID":"job-1"}'),
    headers,
    offset: '41',
    timestamp: '1700000000000',
    attributes: 0,
  } as KafkaMessage;
  const dead = buildDeadLetterMessage({
    source: { topic: 'mcp-jobs', partition: 3, message: original },
    error: new PermanentError('tool-error', 'Note not found.'),
    attempts: 2,
    jobID: 'job-1',
    jobType: 'tool-call',
    failedAt: new Date('2026-01-01T00:00:00Z'),
  });
  const asBuffers = Object.fromEntries(
    Object.entries(dead.headers ?? {}).map(([k, v]) => [k, Buffer.from(String(v))]),
  );
  return { ...original, headers: asBuffers, offset: '7', timestamp: '1767225600000' } as KafkaMessage;
}

describe('dead letter records', () => {
  it('reads reason, origin, attempts and identity from the headers', () => {
    const record = toDlqRecord(dlqMessage(), 1);
    expect(record).toMatchObject({
      partition: 1,
      offset: '7',
      reason: 'tool-error',
      errorClass: 'PermanentError',
      errorMessage: 'Note not found.',
      originalTopic: 'mcp-jobs',
      originalPartition: 3,
      originalOffset: '41',
      attempts: 2,
      jobID: 'job-1',
      jobType: 'tool-call',
      replayedFrom: undefined,
    });
    expect(record.failedAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('falls back to reason unknown and the record timestamp for foreign messages', () => {
    const record = toDlqRecord({ ...dlqMessage(), headers: {} } as KafkaMessage, 0);
    expect(record.reason).toBe(UNKNOWN_REASON);
    expect(record.failedAt.getTime()).toBe(1767225600000);
  });

  it('a replayed job keeps its own headers, drops the dead-letter ones and says where it came from', () => {
    const record = toDlqRecord(dlqMessage({ traceparent: '00-abc-def-01', 'x-tenant': 'acme' }), 2);
    const headers = replayHeaders(record, 'mcp-jobs.dlq', new Date('2026-02-02T00:00:00Z'));
    expect(Object.keys(headers).sort()).toEqual(
      ['traceparent', 'x-tenant', REPLAY_HEADERS.replayedFrom, REPLAY_HEADERS.replayedAt].sort(),
    );
    for (const name of Object.values(DLQ_HEADERS)) expect(headers[name]).toBeUndefined();
    expect(headers[REPLAY_HEADERS.replayedFrom]).toBe('mcp-jobs.dlq/2/7');
    expect(headers[REPLAY_HEADERS.replayedAt]).toBe('2026-02-02T00:00:00.000Z');
    expect(String(headers['x-tenant'])).toBe('acme');
  });

  it('a second replay of a job replaces the replay headers instead of piling them up', () => {
    const again = toDlqRecord(dlqMessage({ [REPLAY_HEADERS.replayedFrom]: 'mcp-jobs.dlq/0/1' }), 0);
    expect(again.replayedFrom).toBe('mcp-jobs.dlq/0/1');
    expect(replayHeaders(again, 'mcp-jobs.dlq', new Date())[REPLAY_HEADERS.replayedFrom]).toBe(
      'mcp-jobs.dlq/0/7',
    );
  });
});

describe('names and formatting', () => {
  it('names replay cursors per group and reason, safely', () => {
    expect(replayCursorGroup('mcp-workers')).toBe('mcp-workers.dlq-replay');
    expect(replayCursorGroup('mcp-workers', 'tool-error')).toBe('mcp-workers.dlq-replay.tool-error');
    expect(replayCursorGroup('g', 'a b/c')).toBe('g.dlq-replay.a_b_c');
  });

  it('formats ages and tables', () => {
    expect([5_000, 125_000, 3 * 3_600_000 + 60_000, 3 * 86_400_000].map(formatAge)).toEqual([
      '5s',
      '2m',
      '3h1m',
      '3d',
    ]);
    expect(
      renderTable(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['', '22'],
        ],
      ),
    ).toBe('A    LONGER\nxyz  1\n     22');
  });

  it('decodes a member assignment, and tolerates an empty one', () => {
    const buffer = AssignerProtocol.MemberAssignment.encode({
      version: 0,
      assignment: { 'mcp-jobs': [2, 0, 1] },
      userData: Buffer.alloc(0),
    });
    expect(decodeAssignment(buffer)).toEqual({ 'mcp-jobs': [0, 1, 2] });
    expect(decodeAssignment(Buffer.alloc(0))).toEqual({});
    expect(decodeAssignment(null)).toEqual({});
  });
});
