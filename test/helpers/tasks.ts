/**
 * Shared parts of the MCP Tasks over Kafka tests: the server settings of the task path, a
 * server_initialize entry that starts this repository's own server, and a task-augmented call
 * made the way a client following the specification makes it (raw `tools/call` + `task`).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { SERVER_ENTRY } from './processes.ts';

/** Server settings of the task path on `topic`: its own topic and outcomes group. */
export const taskServerEnv = (brokers: string, topic: string, extra: Record<string, string> = {}) => ({
  KAFKA_BROKERS: brokers,
  KAFKA_TOPIC: topic,
  MCP_TASKS_CONSUMER_GROUP: `${topic}-outcomes`,
  MCP_TASK_POLL_INTERVAL_MS: '200',
  MCP_INIT_ALLOWED_COMMANDS: 'node',
  MCP_INIT_TIMEOUT_MS: '30000',
  ...extra,
});

/** A server_initialize entry that starts this repository's server over stdio. */
export const selfServer = (name: string) => ({
  name,
  config: { command: 'node', args: [SERVER_ENTRY, '--stdio'], env: { NOTES_DB: ':memory:' } },
});

/** A task-augmented server_initialize; returns the created task. */
export async function createTask(client: Client, args: Record<string, unknown>, ttl?: number) {
  const created = await client.request(
    {
      method: 'tools/call',
      params: { name: 'server_initialize', arguments: args, task: ttl ? { ttl } : {} },
    },
    CreateTaskResultSchema,
  );
  return created.task;
}
