/**
 * MCP Tasks over Kafka end to end: the official client calls server_initialize as a task on a
 * real MCP server (KAFKA_BROKERS set), the server writes the job to a real broker, a real
 * kafka-worker runs it through the server, and the task's status and result come from the
 * server's database. Each case waits for what it can observe: a task status, a record in the
 * store, an outcome event on `<topic>.results`, the group's committed offsets.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { SERVER_ENTRY } from '../helpers/processes.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  startInProcessWorker,
  type TopicWatch,
  tempDir,
  uniqueName,
  waitUntil,
  workerEnv,
} from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');
const HOSTILE = join(import.meta.dirname, '../fixtures/hostile-server.ts');
const selfServer = (name: string) => ({
  name,
  config: { command: 'node', args: [SERVER_ENTRY, '--stdio'], env: { NOTES_DB: ':memory:' } },
});

async function createTask(client: Client, args: Record<string, unknown>, ttl?: number) {
  const created = await client.request(
    {
      method: 'tools/call',
      params: { name: 'server_initialize', arguments: args, task: ttl ? { ttl } : {} },
    },
    CreateTaskResultSchema,
  );
  return created.task;
}

describe('MCP Tasks over Kafka', () => {
  const topic = uniqueName('tasks');
  const group = uniqueName('tasks-workers');
  let srv: TestServer;
  let probe: KafkaProbe;
  let results: TopicWatch;
  let worker: InProcessWorker | undefined;
  let client: Client;
  const gateDir = tempDir();

  const startWorker = async () => {
    worker = await startInProcessWorker(workerEnv({ brokers, topic, group, serverUrl: srv.url }));
  };

  beforeAll(async () => {
    srv = await startTestServer({
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      MCP_TASKS_CONSUMER_GROUP: uniqueName('tasks-outcomes'),
      MCP_TASK_POLL_INTERVAL_MS: '200',
      MCP_INIT_ALLOWED_COMMANDS: 'node',
      MCP_INIT_TIMEOUT_MS: '30000',
    });
    probe = await new KafkaProbe(brokers).connect();
    results = await probe.watch(`${topic}.results`);
    ({ client } = await connectStreamable(srv.url));
  });

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await results?.stop();
    await probe?.close();
    await srv?.stop();
  });

  it('declares the tasks capability and lists server_initialize as task-capable, the notes tools not', async () => {
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'server_initialize')?.execution?.taskSupport).toBe('optional');
    expect(tools.find((t) => t.name === 'save_note')?.execution?.taskSupport ?? 'forbidden').toBe(
      'forbidden',
    );
    await expect(
      client.request(
        {
          method: 'tools/call',
          params: { name: 'save_note', arguments: { title: 'x', content: 'y' }, task: {} },
        },
        CreateTaskResultSchema,
      ),
    ).rejects.toThrow(/does not support task-augmented calls/);
  });

  it('skips a task cancelled before any worker ran it, and commits its job', async () => {
    const task = await createTask(client, selfServer('Cancelled_Early'));
    expect(task.status).toBe('working');
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    await startWorker();
    const [event] = (await results.waitFor((events) => events.some((e) => e.jobID === task.taskId))).filter(
      (e) => e.jobID === task.taskId,
    );
    expect(event?.status).toBe('succeeded');
    expect(event?.result?.text).toMatch(/is cancelled; its job was not run/);
    await waitUntil(() => probe.committedAtEnd(group, topic), 30_000, 'jobs committed');
    const record = await srv.store.tasks.get(task.taskId, Date.now());
    expect(record?.startedAt).toBeUndefined();
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
  });

  it('completes a task with the same result a direct call gives', async () => {
    const task = await createTask(client, selfServer('Task_Direct'));
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    const direct = await call(client, 'server_initialize', selfServer('Task_Direct'));
    const strip = (r: { structuredContent?: unknown }) => {
      const { durationMs: _d, ...rest } = r.structuredContent as Record<string, unknown>;
      return rest;
    };
    expect(result.isError).toBeFalsy();
    expect(strip(result)).toEqual(strip(direct));
    expect(textOf(result)).toMatch(/^Server 'Task_Direct' initialized: mcp-hybrid-notes/);
  });

  it('fails a task with the reason when the tool fails', async () => {
    const task = await createTask(client, {
      name: 'evil',
      config: { command: 'bash', args: ['-c', 'true'] },
    });
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    const got = await client.experimental.tasks.getTask(task.taskId);
    expect(got.status).toBe('failed');
    expect(got.statusMessage).toMatch(/failed to initialize \(not_allowed\)/);
  });

  it('cancels a running task at its child process', async () => {
    const gate = join(gateDir, 'never');
    const token = uniqueName('gate');
    const task = await createTask(client, {
      name: 'Gated',
      config: { command: 'node', args: [HOSTILE, 'gate', gate, token] },
    });
    await waitUntil(
      async () => (await srv.store.tasks.get(task.taskId, Date.now()))?.startedAt !== undefined,
      60_000,
      'task started by the worker',
    );
    await client.experimental.tasks.cancelTask(task.taskId);
    const [event] = (await results.waitFor((events) => events.some((e) => e.jobID === task.taskId))).filter(
      (e) => e.jobID === task.taskId,
    );
    expect(event?.status).toBe('succeeded');
    expect(event?.result?.text).toMatch(/is cancelled/);
    expect(existsSync(gate)).toBe(false);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    writeFileSync(gate, ''); // nothing waits on it any more
  });

  it('streams a task with callToolStream as a user would, with status notifications', async () => {
    const statuses: string[] = [];
    const seen: string[] = [];
    client.setNotificationHandler(
      (await import('@modelcontextprotocol/sdk/types.js')).TaskStatusNotificationSchema,
      (n) => {
        statuses.push(n.params.status);
      },
    );
    let final: unknown;
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'server_initialize', arguments: selfServer('Streamed') },
      CallToolResultSchema,
      { task: { ttl: 60_000 } },
    )) {
      seen.push(message.type);
      if (message.type === 'result') final = message.result;
      if (message.type === 'error') throw message.error;
    }
    expect(seen[0]).toBe('taskCreated');
    expect(seen.at(-1)).toBe('result');
    expect((final as { structuredContent: { name: string } }).structuredContent.name).toBe('Streamed');
    await waitUntil(() => statuses.includes('completed'), 30_000, 'notifications/tasks/status completed');
  });

  it('lists this session’s tasks in pages and hides them from another session', async () => {
    const { tasks } = await client.experimental.tasks.listTasks();
    expect(tasks.length).toBeGreaterThanOrEqual(4);
    const { client: other } = await connectStreamable(srv.url);
    expect((await other.experimental.tasks.listTasks()).tasks).toEqual([]);
    await expect(other.experimental.tasks.getTask(tasks[0]!.taskId)).rejects.toThrow(/not found/i);
    await other.close();
  });

  it('forgets a task after its TTL', async () => {
    const task = await createTask(client, selfServer('Short_Lived'), 1_000);
    expect(task.ttl).toBe(1_000);
    await waitUntil(
      async () => {
        try {
          await client.experimental.tasks.getTask(task.taskId);
          return false;
        } catch (err) {
          return /not found/i.test(String(err));
        }
      },
      30_000,
      'task expired',
    );
    expect(await srv.store.tasks.prune(Date.now())).toBeGreaterThanOrEqual(1);
  });
});
