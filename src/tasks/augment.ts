/**
 * Teaches one McpServer to take task-augmented calls of chosen tools through Kafka. Call it
 * after the tools are registered: it wraps the server's tools/call and tools/list handlers
 * (sdk-internals.ts wrapRequestHandler), so the SDK's own tool dispatch, input and output
 * validation stay as they are for every plain call. It throws at once if a task tool's input
 * schema cannot be read from the SDK.
 *
 * - tools/list shows `execution.taskSupport: 'optional'` on the task tools.
 * - A task-augmented call of a task tool has its arguments checked against the tool's input
 *   schema first (bad input: -32602 at once, no task, no job), then is enqueued (service.ts) and
 *   answered with CreateTaskResult; of any other tool it is refused (-32601, taskSupport forbidden).
 *   The schema is read from the McpServer's registered tools (src/server/sdk-internals.ts).
 * - A plain call of a task tool whose idempotency key names a live task is the worker running
 *   that task: it goes through `executeForWorker`. Every other plain call runs as before.
 * - The creating session gets notifications/tasks/status on each status change while it is
 *   connected to this replica (watched in the database, so a change written anywhere is seen).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  getParseErrorMessage,
  normalizeObjectSchema,
  safeParseAsync,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type CallToolResult,
  ErrorCode,
  type ListToolsResult,
  McpError,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../observability/logger.ts';
import { IDEMPOTENCY_META_KEY } from '../protocol.ts';
import { type RawRequestHandler, registeredTools, wrapRequestHandler } from '../server/sdk-internals.ts';
import { mayReachClient } from '../server/standalone-stream.ts';
import { isTerminalStatus, type TaskRecord } from './records.ts';
import type { ScopeOf } from './scope.ts';
import { toSdkTask } from './sdk-task-store.ts';
import type { TaskService } from './service.ts';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type CallRequest = { params: { name: string; arguments?: Record<string, unknown>; task?: { ttl?: number } } };

export interface KafkaTaskHooks {
  service: TaskService;
  scopeOf: ScopeOf;
  /** Tools that accept task-augmented calls. */
  taskTools: ReadonlySet<string>;
  logger: Logger;
}

export function enableKafkaTasks(server: McpServer, hooks: KafkaTaskHooks): void {
  const inner = server.server;
  const registered = registeredTools(server);

  /** The check the SDK makes before a plain call runs, made before a task is created. */
  const assertValidArguments = async (name: string, args: Record<string, unknown> | undefined) => {
    const schema = registered[name]?.inputSchema;
    if (!schema) return;
    const parsed = await safeParseAsync(normalizeObjectSchema(schema) ?? schema, args);
    if (!parsed.success) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Input validation error: Invalid arguments for tool ${name}: ${getParseErrorMessage(parsed.error)}`,
      );
    }
  };
  const closed = new AbortController();
  const previousOnClose = inner.onclose;
  inner.onclose = () => {
    closed.abort();
    previousOnClose?.();
  };

  const watchStatus = async (task: TaskRecord) => {
    let last = `${task.status}|${task.statusMessage ?? ''}`;
    for (;;) {
      try {
        await delay(task.pollIntervalMs, undefined, { signal: closed.signal });
        const now = await hooks.service.records.get(task.taskId, Date.now());
        if (!now) return;
        const seen = `${now.status}|${now.statusMessage ?? ''}`;
        if (seen !== last) {
          last = seen;
          await inner.notification({ method: 'notifications/tasks/status', params: toSdkTask(now) });
        }
        if (isTerminalStatus(now.status)) return;
      } catch (err) {
        if (closed.signal.aborted) return;
        hooks.logger.debug({ taskId: task.taskId, err }, 'task status notification failed');
      }
    }
  };

  const wrapCall =
    (original: RawRequestHandler): RawRequestHandler =>
    async (request, rawExtra) => {
      const extra = rawExtra as Extra;
      const { name, task, arguments: args } = (request as CallRequest).params;
      if (task) {
        if (!hooks.taskTools.has(name)) {
          throw new McpError(
            ErrorCode.MethodNotFound,
            `Tool ${name} does not support task-augmented calls (execution.taskSupport: forbidden)`,
          );
        }
        await assertValidArguments(name, args);
        const record = await hooks.service.createToolTask({
          tool: name,
          args: args ?? {},
          scope: hooks.scopeOf(extra.sessionId),
          sessionId: extra.sessionId,
          requestedTtlMs: task.ttl,
        });
        // Status notifications travel outside the request: not watched where none can arrive.
        if (mayReachClient(inner.transport)) void watchStatus(record);
        return { task: toSdkTask(record) };
      }
      const key = extra._meta?.[IDEMPOTENCY_META_KEY];
      if (hooks.taskTools.has(name) && typeof key === 'string') {
        const record = await hooks.service.taskForKey(key);
        if (record && record.tool === name) {
          return hooks.service.executeForWorker(
            record,
            extra.signal,
            async (signal) => (await original(request, { ...extra, signal })) as CallToolResult,
          );
        }
      }
      return original(request, extra);
    };

  const wrapList =
    (original: RawRequestHandler): RawRequestHandler =>
    async (request, extra) => {
      const listed = (await original(request, extra)) as ListToolsResult;
      return {
        ...listed,
        tools: listed.tools.map((tool) =>
          hooks.taskTools.has(tool.name)
            ? { ...tool, execution: { ...tool.execution, taskSupport: 'optional' as const } }
            : tool,
        ),
      };
    };

  for (const name of hooks.taskTools) {
    if (!registered[name]?.inputSchema)
      throw new Error(`MCP tasks: cannot read the input schema of task tool ${name} from the SDK`);
  }
  wrapRequestHandler(server, 'tools/call', wrapCall);
  wrapRequestHandler(server, 'tools/list', wrapList);
}
