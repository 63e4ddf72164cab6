/**
 * The dead-letter record for a job that failed permanently: the ORIGINAL key and value
 * (byte for byte, so the job can be fixed and re-enqueued), the original headers, and
 * headers saying why and where from. Written to `<topic>.dlq` before the job's offset is
 * committed.
 */
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { PermanentError } from '../retry/errors.ts';

export const DLQ_HEADERS = {
  errorClass: 'x-error-class',
  errorReason: 'x-error-reason',
  errorMessage: 'x-error-message',
  originalTopic: 'x-original-topic',
  originalPartition: 'x-original-partition',
  originalOffset: 'x-original-offset',
  originalTimestamp: 'x-original-timestamp',
  attempts: 'x-attempts',
  jobID: 'x-job-id',
  jobType: 'x-job-type',
  failedAt: 'x-failed-at',
} as const;

const MAX_HEADER_MESSAGE = 2_000;

export interface DeadLetterInput {
  source: { topic: string; partition: number; message: KafkaMessage };
  error: PermanentError;
  attempts: number;
  jobID?: string | undefined;
  jobType?: string | undefined;
  failedAt?: Date;
}

export function buildDeadLetterMessage(input: DeadLetterInput): Message {
  const { source, error } = input;
  const headers: IHeaders = { ...(source.message.headers ?? {}) };
  headers[DLQ_HEADERS.errorClass] = error.name;
  headers[DLQ_HEADERS.errorReason] = error.reason;
  headers[DLQ_HEADERS.errorMessage] = error.message.slice(0, MAX_HEADER_MESSAGE);
  headers[DLQ_HEADERS.originalTopic] = source.topic;
  headers[DLQ_HEADERS.originalPartition] = String(source.partition);
  headers[DLQ_HEADERS.originalOffset] = source.message.offset;
  headers[DLQ_HEADERS.originalTimestamp] = source.message.timestamp;
  headers[DLQ_HEADERS.attempts] = String(input.attempts);
  headers[DLQ_HEADERS.failedAt] = (input.failedAt ?? new Date()).toISOString();
  if (input.jobID !== undefined) headers[DLQ_HEADERS.jobID] = input.jobID;
  if (input.jobType !== undefined) headers[DLQ_HEADERS.jobType] = input.jobType;
  return { key: source.message.key, value: source.message.value, headers };
}
