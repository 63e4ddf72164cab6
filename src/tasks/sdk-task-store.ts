/**
 * The SDK's TaskStore over our durable records: the SDK's own tasks/get, tasks/result (which
 * polls getTask at the task's pollInterval until terminal), tasks/list and tasks/cancel handlers
 * run on it, so every replica answers from the database. Each call is scoped by the caller's
 * session (scope.ts): a task of another scope is "not found".
 *
 * Tasks are created by the Kafka path (service.ts), not through `createTask` here, which only
 * exists to satisfy the interface for tools the SDK would run in-process (none today).
 */
import type {
  CreateTaskOptions,
  TaskStore,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { isTerminalStatus, type TaskRecord, type TaskRecordStore, type TerminalStatus } from './records.ts';
import type { ScopeOf } from './scope.ts';

export function toSdkTask(record: TaskRecord): Task {
  return {
    taskId: record.taskId,
    status: record.status,
    ttl: record.ttlMs,
    createdAt: new Date(record.createdAt).toISOString(),
    lastUpdatedAt: new Date(record.updatedAt).toISOString(),
    pollInterval: record.pollIntervalMs,
    ...(record.statusMessage !== undefined && { statusMessage: record.statusMessage }),
  };
}

/** The tasks/result of a terminal task that holds no tool result (cancelled, or lost by the pipeline). */
export function resultWithoutToolResult(record: TaskRecord): Result {
  return {
    content: [
      { type: 'text', text: record.statusMessage ?? `Task ${record.taskId} ended ${record.status}.` },
    ],
    isError: true,
  };
}

export interface SdkTaskStoreDeps {
  records: TaskRecordStore;
  scopeOf: ScopeOf;
  /** Tasks per tasks/list page (MCP_TASKS_PAGE_SIZE). */
  pageSize: number;
  /** Called after a terminal write through this store (tasks/cancel): watchers and cancellation. */
  onTerminal?: (taskId: string) => void;
  now?: () => number;
}

export class DurableTaskStore implements TaskStore {
  readonly #deps: SdkTaskStoreDeps;
  readonly #now: () => number;

  constructor(deps: SdkTaskStoreDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async #visible(taskId: string, sessionId: string | undefined): Promise<TaskRecord | undefined> {
    const record = await this.#deps.records.get(taskId, this.#now());
    return record && record.scope === this.#deps.scopeOf(sessionId) ? record : undefined;
  }

  async createTask(): Promise<Task> {
    throw new Error('tasks of this server are created by the Kafka task path only');
  }

  async getTask(taskId: string, sessionId?: string): Promise<Task | null> {
    const record = await this.#visible(taskId, sessionId);
    return record ? toSdkTask(record) : null;
  }

  async storeTaskResult(
    taskId: string,
    status: 'completed' | 'failed',
    result: Result,
    sessionId?: string,
  ): Promise<void> {
    if (!(await this.#visible(taskId, sessionId))) throw new Error(`Task ${taskId} not found`);
    await this.#finish(taskId, status, undefined, result as Record<string, unknown>);
  }

  async getTaskResult(taskId: string, sessionId?: string): Promise<Result> {
    const record = await this.#visible(taskId, sessionId);
    if (!record) throw new Error(`Task ${taskId} not found`);
    if (!isTerminalStatus(record.status)) throw new Error(`Task ${taskId} has no result yet`);
    return (record.result as Result | undefined) ?? resultWithoutToolResult(record);
  }

  async updateTaskStatus(
    taskId: string,
    status: Task['status'],
    statusMessage?: string,
    sessionId?: string,
  ): Promise<void> {
    const record = await this.#visible(taskId, sessionId);
    if (!record) throw new Error(`Task ${taskId} not found`);
    if (!isTerminalStatus(status)) return; // working ⇄ input_required is not used by queued tasks
    if (!(await this.#finish(taskId, status, statusMessage, undefined))) {
      const now = await this.#deps.records.get(taskId, this.#now());
      throw new Error(`Cannot move task ${taskId} from terminal status '${now?.status}' to '${status}'`);
    }
  }

  async listTasks(cursor?: string, sessionId?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const page = await this.#deps.records.list(
      this.#deps.scopeOf(sessionId),
      this.#now(),
      this.#deps.pageSize,
      cursor,
    );
    return {
      tasks: page.tasks.map(toSdkTask),
      ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
    };
  }

  async #finish(
    taskId: string,
    status: TerminalStatus,
    statusMessage: string | undefined,
    result: Record<string, unknown> | undefined,
  ): Promise<boolean> {
    const changed = await this.#deps.records.finish(taskId, status, statusMessage, result, this.#now());
    if (changed) this.#deps.onTerminal?.(taskId);
    return changed;
  }
}

export type { CreateTaskOptions };
