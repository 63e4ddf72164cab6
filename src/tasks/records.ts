/**
 * Durable task records: one row per MCP task, in the server's database (SQLite or PostgreSQL,
 * the notes store's connection), so any replica answers for any task and a restart loses none.
 *
 * A record's `status` is the MCP task status; `startedAt` says whether a worker's call has begun
 * executing it (still `working` to the client). Transitions out of `working` happen once: every
 * terminal write is conditional on the row still being `working`, so concurrent writers (the
 * replica running the tool, one recording a dead letter, one cancelling) cannot overwrite each
 * other — the first terminal status wins. A record is visible until `expiresAt` (creation + TTL),
 * then pruned.
 */

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
export type TerminalStatus = 'completed' | 'failed' | 'cancelled';

export interface TaskRecord {
  taskId: string;
  /** Who may see it: `token:<sha256>`, `session:<id>` or `anonymous` (see scope.ts). */
  scope: string;
  tool: string;
  status: TaskStatus;
  statusMessage?: string;
  /** The CallToolResult once terminal (a cancelled task has none). */
  result?: Record<string, unknown>;
  /** MCP session that created it, for status notifications. */
  sessionId?: string;
  ttlMs: number;
  pollIntervalMs: number;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  expiresAt: number;
}

export interface NewTaskRecord {
  taskId: string;
  scope: string;
  tool: string;
  sessionId?: string;
  ttlMs: number;
  pollIntervalMs: number;
  now: number;
}

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor?: string;
}

export interface TaskRecordStore {
  insert(task: NewTaskRecord): Promise<TaskRecord>;
  /** The record, unexpired at `now`, whatever its scope (the worker-call path). */
  get(taskId: string, now: number): Promise<TaskRecord | undefined>;
  /** Scope's tasks, oldest first, `limit` per page; `cursor` from the previous page. */
  list(scope: string, now: number, limit: number, cursor?: string): Promise<TaskPage>;
  /** Marks a working task started (first call wins); returns the record as it now is. */
  markStarted(taskId: string, now: number): Promise<TaskRecord | undefined>;
  /** Moves a `working` task to `status`; false when it was already terminal (or gone). */
  finish(
    taskId: string,
    status: TerminalStatus,
    statusMessage: string | undefined,
    result: Record<string, unknown> | undefined,
    now: number,
  ): Promise<boolean>;
  /** Deletes records expired at `now`; returns how many. */
  prune(now: number): Promise<number>;
}

export function isTerminalStatus(status: TaskStatus): status is TerminalStatus {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** A row as both backends read it (times as epoch milliseconds, JSON as text). */
export interface TaskRow {
  task_id: string;
  scope: string;
  tool: string;
  status: string;
  status_message: string | null;
  result: string | null;
  session_id: string | null;
  ttl_ms: number | string;
  poll_interval_ms: number | string;
  created_at: number | string;
  updated_at: number | string;
  started_at: number | string | null;
  expires_at: number | string;
}

export function taskFromRow(row: TaskRow): TaskRecord {
  return {
    taskId: row.task_id,
    scope: row.scope,
    tool: row.tool,
    status: row.status as TaskStatus,
    ...(row.status_message !== null && { statusMessage: row.status_message }),
    ...(row.result !== null && { result: JSON.parse(row.result) as Record<string, unknown> }),
    ...(row.session_id !== null && { sessionId: row.session_id }),
    ttlMs: Number(row.ttl_ms),
    pollIntervalMs: Number(row.poll_interval_ms),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    ...(row.started_at !== null && { startedAt: Number(row.started_at) }),
    expiresAt: Number(row.expires_at),
  };
}

/** Listing cursor: the last row's (created_at, task_id), opaque to clients. */
export function encodeTaskCursor(task: TaskRecord): string {
  return Buffer.from(JSON.stringify([task.createdAt, task.taskId])).toString('base64url');
}

export class InvalidTaskCursorError extends Error {
  override name = 'InvalidTaskCursorError';
}

export function decodeTaskCursor(cursor: string): { createdAt: number; taskId: string } {
  try {
    const [createdAt, taskId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'number' && typeof taskId === 'string') return { createdAt, taskId };
  } catch {
    // falls through
  }
  throw new InvalidTaskCursorError(`invalid tasks/list cursor '${cursor.slice(0, 64)}'`);
}

/** Both backends' table (epoch-millisecond integers keep the two identical). */
const TASKS_TABLE = (jsonType: string, bigint: string) => `
  CREATE TABLE tasks (
    task_id text PRIMARY KEY,
    scope text NOT NULL,
    tool text NOT NULL,
    status text NOT NULL,
    status_message text,
    result ${jsonType},
    session_id text,
    ttl_ms ${bigint} NOT NULL,
    poll_interval_ms ${bigint} NOT NULL,
    created_at ${bigint} NOT NULL,
    updated_at ${bigint} NOT NULL,
    started_at ${bigint},
    expires_at ${bigint} NOT NULL
  );
  CREATE INDEX tasks_scope_listing ON tasks (scope, created_at, task_id);
  CREATE INDEX tasks_expiry ON tasks (expires_at);
`;

/** Appended to the notes stores' migrations (one step each backend). */
export const SQLITE_TASKS_MIGRATION = TASKS_TABLE('TEXT', 'INTEGER');
export const POSTGRES_TASKS_MIGRATION = TASKS_TABLE('text', 'bigint');

export const TASK_COLUMNS =
  'task_id, scope, tool, status, status_message, result, session_id, ttl_ms, poll_interval_ms, created_at, updated_at, started_at, expires_at';
