/**
 * The outcome event: one JSON record per handled job on `<topic>.results`, keyed by jobID
 * (so all outcomes of one job land on one partition, in order). Consumers of this topic see
 * succeeded and failed jobs alike; a failed job's full original message is in the DLQ.
 */
import type { Message } from 'kafkajs';

export interface JobOutcomeEvent {
  /** Null when the message could not be decoded far enough to find one. */
  jobID: string | null;
  jobType: string | null;
  status: 'succeeded' | 'failed';
  result?: Record<string, unknown>;
  error?: { class: string; reason: string; message: string };
  attempts: number;
  durationMs: number;
  source: { topic: string; partition: number; offset: string };
  finishedAt: string;
  /** Client id of the worker that handled it. */
  worker: string;
}

export function buildResultMessage(event: JobOutcomeEvent, fallbackKey: Buffer | string | null): Message {
  return {
    key: event.jobID ?? fallbackKey,
    value: JSON.stringify(event),
    headers: { 'x-job-status': event.status },
  };
}
