/**
 * Records what only the worker knows: a task's job dead-lettered without its tool result ever
 * reaching the server (retries exhausted, say). Reads `<topic>.results` in ONE consumer group
 * shared by all server replicas, so each outcome is handled once per group while replicas come
 * and go, and — kafkajs commits after `eachMessage` resolves — an outcome is committed only after
 * its database write: a restart re-reads, never skips. The write is conditional on the task
 * still `working`, so re-reading, and outcomes the executing replica already recorded (success,
 * tool error), change nothing.
 */
import type { Consumer, EachMessagePayload } from 'kafkajs';
import type { JobOutcomeEvent } from '../kafka/results.ts';
import type { Logger } from '../observability/logger.ts';
import { isTerminalStatus, type TaskRecordStore } from './records.ts';

export async function recordDeadLetteredTask(
  records: TaskRecordStore,
  value: Buffer | null,
  now: number,
  logger: Logger,
): Promise<boolean> {
  let event: Partial<JobOutcomeEvent>;
  try {
    event = JSON.parse(value?.toString('utf8') ?? 'null') ?? {};
  } catch {
    return false; // not ours to judge: the results topic is the worker's
  }
  if (event.status !== 'failed' || typeof event.jobID !== 'string') return false;
  const task = await records.get(event.jobID, now);
  if (!task || isTerminalStatus(task.status)) return false;
  const reason = event.error ? `${event.error.reason}: ${event.error.message}` : 'unknown reason';
  const changed = await records.finish(
    task.taskId,
    'failed',
    `job dead-lettered (${reason})`,
    undefined,
    now,
  );
  if (changed)
    logger.info({ taskId: task.taskId, reason: event.error?.reason }, 'task failed: job dead-lettered');
  return changed;
}

export async function consumeTaskOutcomes(options: {
  consumer: Consumer;
  resultsTopic: string;
  records: TaskRecordStore;
  logger: Logger;
}): Promise<void> {
  const { consumer, records, logger } = options;
  await consumer.connect();
  await consumer.subscribe({ topic: options.resultsTopic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }: EachMessagePayload) => {
      await recordDeadLetteredTask(records, message.value, Date.now(), logger);
    },
  });
}
