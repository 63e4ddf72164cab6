/**
 * The task records over SQL, written once for both backends: each backend hands in an executor
 * (`rows`, `run`) for its driver. Statements use `$n` parameters; the SQLite executor rewrites
 * them to SQLite's `?n`. Every terminal write is `... WHERE status = 'working'`, so the first
 * terminal status wins whichever replica writes it.
 */
import {
  decodeTaskCursor,
  encodeTaskCursor,
  type NewTaskRecord,
  TASK_COLUMNS,
  type TaskPage,
  type TaskRecord,
  type TaskRecordStore,
  type TaskRow,
  type TerminalStatus,
  taskFromRow,
} from './records.ts';

export interface SqlExecutor {
  rows(sql: string, params: unknown[]): Promise<TaskRow[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params: unknown[]): Promise<number>;
}

export class SqlTaskRecords implements TaskRecordStore {
  readonly #sql: SqlExecutor;

  constructor(sql: SqlExecutor) {
    this.#sql = sql;
  }

  async insert(task: NewTaskRecord): Promise<TaskRecord> {
    await this.#sql.run(
      `INSERT INTO tasks (${TASK_COLUMNS})
       VALUES ($1, $2, $3, 'working', NULL, NULL, $4, $5, $6, $7, $7, NULL, $8)`,
      [
        task.taskId,
        task.scope,
        task.tool,
        task.sessionId ?? null,
        task.ttlMs,
        task.pollIntervalMs,
        task.now,
        task.now + task.ttlMs,
      ],
    );
    const created = await this.get(task.taskId, task.now);
    if (!created) throw new Error(`task ${task.taskId} vanished right after it was created`);
    return created;
  }

  async get(taskId: string, now: number): Promise<TaskRecord | undefined> {
    const rows = await this.#sql.rows(
      `SELECT ${TASK_COLUMNS} FROM tasks WHERE task_id = $1 AND expires_at > $2`,
      [taskId, now],
    );
    return rows[0] && taskFromRow(rows[0]);
  }

  async list(scope: string, now: number, limit: number, cursor?: string): Promise<TaskPage> {
    const after = cursor === undefined ? undefined : decodeTaskCursor(cursor);
    const rows = after
      ? await this.#sql.rows(
          `SELECT ${TASK_COLUMNS} FROM tasks
           WHERE scope = $1 AND expires_at > $2
             AND (created_at > $3 OR (created_at = $3 AND task_id > $4))
           ORDER BY created_at, task_id LIMIT $5`,
          [scope, now, after.createdAt, after.taskId, limit + 1],
        )
      : await this.#sql.rows(
          `SELECT ${TASK_COLUMNS} FROM tasks WHERE scope = $1 AND expires_at > $2
           ORDER BY created_at, task_id LIMIT $3`,
          [scope, now, limit + 1],
        );
    const tasks = rows.slice(0, limit).map(taskFromRow);
    const last = tasks.at(-1);
    return rows.length > limit && last ? { tasks, nextCursor: encodeTaskCursor(last) } : { tasks };
  }

  async markStarted(taskId: string, now: number): Promise<TaskRecord | undefined> {
    await this.#sql.run(
      `UPDATE tasks SET started_at = $2, updated_at = $2
       WHERE task_id = $1 AND status = 'working' AND started_at IS NULL`,
      [taskId, now],
    );
    return this.get(taskId, now);
  }

  async finish(
    taskId: string,
    status: TerminalStatus,
    statusMessage: string | undefined,
    result: Record<string, unknown> | undefined,
    now: number,
  ): Promise<boolean> {
    const changed = await this.#sql.run(
      `UPDATE tasks SET status = $2, status_message = $3, result = $4, updated_at = $5
       WHERE task_id = $1 AND status = 'working'`,
      [taskId, status, statusMessage ?? null, result === undefined ? null : JSON.stringify(result), now],
    );
    return changed > 0;
  }

  async prune(now: number): Promise<number> {
    return this.#sql.run('DELETE FROM tasks WHERE expires_at <= $1', [now]);
  }
}
