/**
 * MCP Tasks over Kafka, the server's side. Two entry points:
 *
 * - `createToolTask`: a task-augmented tools/call. Writes the task record (status `working`)
 *   and then a ScheduledJobEnvelope `{jobID: taskId, jobType: 'tool-call', payload: {tool,
 *   arguments}}` to the jobs topic, acknowledged by all in-sync replicas, and returns the task.
 *   When the produce fails the task is marked `failed` at once and the caller gets an error.
 * - `executeForWorker`: the worker's ordinary tools/call of that job (idempotency key = task
 *   id). It skips a task that is already terminal (cancelled before it started: the worker gets
 *   a success result flagged TASK_SKIPPED_META_KEY and commits), marks it started, runs the tool
 *   with a signal that also fires when the task is cancelled (watched in the database, so a
 *   tasks/cancel on any replica reaches it), and records the tool's result as the task's
 *   terminal status: `completed`, or `failed` for a tool error. A call the worker itself abandons
 *   (its timeout, its shutdown) records nothing: the worker retries or the job is redelivered.
 *
 * Jobs the worker dead-letters without a tool result reaching the server (retries exhausted)
 * are recorded from `<topic>.results` by outcomes.ts.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Producer } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { isTerminalStatus, type TaskRecord, type TaskRecordStore, type TerminalStatus } from './records.ts';

/** `_meta` key on the result the worker gets for a task it must not run (value: the task's status). */
export const TASK_SKIPPED_META_KEY = 'io.github.mcp-hybrid/task-skipped';

export interface TaskSettings {
  topic: string;
  defaultTtlMs: number;
  maxTtlMs: number;
  pollIntervalMs: number;
  /** How often a running task's record is checked for a cancellation from another replica. */
  cancelCheckMs: number;
}

export interface TaskServiceDeps {
  records: TaskRecordStore;
  producer: Pick<Producer, 'send'>;
  settings: TaskSettings;
  logger: Logger;
  now?: () => number;
}

export class TaskService {
  readonly #deps: TaskServiceDeps;
  readonly #now: () => number;
  /** Tasks this replica is running, so a local cancel aborts them without waiting for a check. */
  readonly #running = new Map<string, AbortController>();

  constructor(deps: TaskServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  get settings(): TaskSettings {
    return this.#deps.settings;
  }

  get records(): TaskRecordStore {
    return this.#deps.records;
  }

  async createToolTask(options: {
    tool: string;
    args: Record<string, unknown>;
    scope: string;
    sessionId: string | undefined;
    requestedTtlMs: number | undefined;
  }): Promise<TaskRecord> {
    const { settings, records, logger } = this.#deps;
    const taskId = randomBytes(16).toString('hex');
    const ttlMs = Math.min(
      Math.max(options.requestedTtlMs ?? settings.defaultTtlMs, 1_000),
      settings.maxTtlMs,
    );
    const task = await records.insert({
      taskId,
      scope: options.scope,
      tool: options.tool,
      ...(options.sessionId !== undefined && { sessionId: options.sessionId }),
      ttlMs,
      pollIntervalMs: settings.pollIntervalMs,
      now: this.#now(),
    });
    const envelope = {
      jobID: taskId,
      jobType: 'tool-call',
      payload: { tool: options.tool, arguments: options.args },
    };
    try {
      await this.#deps.producer.send({
        topic: settings.topic,
        acks: -1,
        messages: [{ key: taskId, value: JSON.stringify(envelope) }],
      });
    } catch (err) {
      const reason = `could not enqueue the task on ${settings.topic}: ${err instanceof Error ? err.message : String(err)}`;
      await records.finish(taskId, 'failed', reason, undefined, this.#now()).catch(() => {});
      logger.error({ taskId, tool: options.tool, err: reason }, 'task not enqueued');
      throw new Error(reason);
    }
    logger.info({ taskId, tool: options.tool, ttlMs }, 'task enqueued');
    return task;
  }

  /** The task behind a worker's call with idempotency key `key`, if that key names a live task. */
  async taskForKey(key: string): Promise<TaskRecord | undefined> {
    return this.#deps.records.get(key, this.#now());
  }

  async executeForWorker(
    task: TaskRecord,
    callSignal: AbortSignal,
    run: (signal: AbortSignal) => Promise<CallToolResult>,
  ): Promise<CallToolResult> {
    const { records, logger } = this.#deps;
    const log = logger.child({ taskId: task.taskId, tool: task.tool });
    const started = await records.markStarted(task.taskId, this.#now());
    if (!started || isTerminalStatus(started.status)) {
      log.info({ status: started?.status ?? 'expired' }, 'task not run: already ended');
      return skipped(task.taskId, started?.status ?? 'expired');
    }
    const cancelled = new AbortController();
    this.#running.set(task.taskId, cancelled);
    const stopWatching = new AbortController();
    void this.#watchForCancel(task.taskId, cancelled, AbortSignal.any([stopWatching.signal, callSignal]));
    try {
      const result = await run(AbortSignal.any([callSignal, cancelled.signal]));
      if (cancelled.signal.aborted) {
        log.info('task cancelled while running; its tool call was stopped');
        return skipped(task.taskId, 'cancelled');
      }
      if (callSignal.aborted) return result; // the worker gave up on this call: it retries
      const status: TerminalStatus = result.isError ? 'failed' : 'completed';
      const message = result.isError ? firstText(result) : undefined;
      if (
        await records.finish(task.taskId, status, message, result as Record<string, unknown>, this.#now())
      ) {
        log.info({ status }, 'task finished');
      }
      return result;
    } finally {
      stopWatching.abort();
      this.#running.delete(task.taskId);
    }
  }

  /** A terminal write happened on this replica (tasks/cancel): stop the task if it runs here. */
  noteTerminal(taskId: string): void {
    this.#running.get(taskId)?.abort();
  }

  async #watchForCancel(taskId: string, cancelled: AbortController, stop: AbortSignal): Promise<void> {
    while (!stop.aborted && !cancelled.signal.aborted) {
      try {
        await delay(this.#deps.settings.cancelCheckMs, undefined, { signal: stop });
      } catch {
        return;
      }
      try {
        const record = await this.#deps.records.get(taskId, this.#now());
        if (!record || record.status === 'cancelled') cancelled.abort();
      } catch (err) {
        this.#deps.logger.warn(
          { taskId, err },
          'checking a running task for cancellation failed; will retry',
        );
      }
    }
  }
}

function skipped(taskId: string, status: string): CallToolResult {
  return {
    content: [{ type: 'text', text: `Task ${taskId} is ${status}; its job was not run.` }],
    _meta: { [TASK_SKIPPED_META_KEY]: status },
  };
}

function firstText(result: CallToolResult): string | undefined {
  const block = result.content.find((c) => c.type === 'text');
  return block && 'text' in block ? String(block.text).slice(0, 1_000) : undefined;
}
