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
import { CallToolResultSchema, CreateTaskResultSchema, ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SANDBOXED_CHILD_PROCESSES, waitForProcesses, waitUntilGone } from '../helpers/host-processes.ts';
import { connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { createTask, selfServer, taskServerEnv } from '../helpers/tasks.ts';
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
/** Long enough for a sandboxed server_initialize of this repository's server on a loaded machine. */
const TASK_DONE_WITHIN_MS = 90_000;
const HOSTILE = join(import.meta.dirname, '../fixtures/hostile-server.ts');
/** A server_initialize entry whose child waits for a file that never appears; `token` follows it on the host. */
const gatedServer = (name: string, gate: string, token: string) => ({
  name,
  config: { command: 'node', args: [HOSTILE, 'gate', gate, token] },
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

interface TaskStack {
  srv: TestServer;
  probe: KafkaProbe;
  /** `<topic>.results`, read from the start. */
  results: TopicWatch;
  client: Client;
  close(): Promise<void>;
}

/** A task-enabled server on `topic`, a Kafka probe watching its results and a client; no worker. */
async function startTaskStack(topic: string): Promise<TaskStack> {
  const srv = await startTestServer(taskServerEnv(brokers, topic));
  const probe = await new KafkaProbe(brokers).connect();
  const results = await probe.watch(`${topic}.results`);
  const { client } = await connectStreamable(srv.url);
  return {
    srv,
    probe,
    results,
    client,
    close: async () => {
      await client.close();
      await results.stop();
      await probe.close();
      await srv.stop();
    },
  };
}

async function outcomeOf(results: TopicWatch, taskId: string) {
  const events = await results.waitFor((all) => all.some((e) => e.jobID === taskId), TASK_DONE_WITHIN_MS);
  return events.find((e) => e.jobID === taskId);
}

describe('MCP Tasks over Kafka', () => {
  const topic = uniqueName('tasks');
  const group = uniqueName('tasks-workers');
  let stack: TaskStack;
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
    stack = await startTaskStack(topic);
    ({ srv, probe, results, client } = stack);
  });

  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
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

  it('cancels a running task at its child process: the whole sandboxed tree is gone', async () => {
    const gate = join(gateDir, 'never');
    const token = uniqueName('gate');
    const task = await createTask(client, gatedServer('Gated', gate, token));
    await waitForProcesses(token, SANDBOXED_CHILD_PROCESSES);
    expect((await srv.store.tasks.get(task.taskId, Date.now()))?.startedAt).toBeDefined();
    await client.experimental.tasks.cancelTask(task.taskId);
    await waitUntilGone(token);
    const event = await outcomeOf(results, task.taskId);
    expect(event?.status).toBe('succeeded');
    expect(event?.result?.text).toMatch(/is cancelled/);
    expect(existsSync(gate)).toBe(false);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    writeFileSync(gate, ''); // nothing waits on it any more
  });

  it('refuses a task call whose arguments break the input schema with -32602, creating no task', async () => {
    const before = (await client.experimental.tasks.listTasks()).tasks.length;
    const refused = createTask(client, { name: 'No_Config' });
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.InvalidParams });
    await expect(refused).rejects.toThrow(/Invalid arguments for tool server_initialize/);
    await expect(createTask(client, { name: 'Bad_Command', config: { command: 42 } })).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
    });
    expect((await client.experimental.tasks.listTasks()).tasks).toHaveLength(before);
    // The session keeps serving.
    expect((await createTask(client, selfServer('After_Refusal'))).status).toBe('working');
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

describe('MCP Tasks over Kafka across a server restart', () => {
  const topic = uniqueName('tasks-restart');
  const group = uniqueName('tasks-restart-workers');
  const token = 'restart-token';
  const notesDb = join(tempDir(), 'notes.db');
  const env = taskServerEnv(brokers, topic, { NOTES_DB: notesDb, MCP_AUTH_TOKEN: token });
  const workerFor = (url: string) =>
    startInProcessWorker(
      workerEnv({ brokers, topic, group, serverUrl: url, extra: { MCP_AUTH_TOKEN: token } }),
    );

  it('delivers results from the database after a restart: one finished before it, one queued before and run after', async () => {
    let srv = await startTestServer(env);
    let worker: InProcessWorker | undefined = await workerFor(srv.url);
    let { client } = await connectStreamable(srv.url, bearer(token));
    try {
      const finished = await createTask(client, selfServer('Before_Restart'));
      await waitUntil(
        async () => (await srv.store.tasks.get(finished.taskId, Date.now()))?.status === 'completed',
        TASK_DONE_WITHIN_MS,
        'the first task completed',
      );
      await worker.stop();
      worker = undefined;
      const queued = await createTask(client, selfServer('Across_Restart'));
      await client.close();
      await srv.stop();

      srv = await startTestServer(env);
      ({ client } = await connectStreamable(srv.url, bearer(token)));
      const first = await client.experimental.tasks.getTaskResult(finished.taskId, CallToolResultSchema);
      expect((first.structuredContent as { name: string }).name).toBe('Before_Restart');
      expect((await client.experimental.tasks.getTask(queued.taskId)).status).toBe('working');
      const listed = (await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);
      expect(listed).toEqual(expect.arrayContaining([finished.taskId, queued.taskId]));

      worker = await workerFor(srv.url);
      const second = await client.experimental.tasks.getTaskResult(queued.taskId, CallToolResultSchema, {
        timeout: TASK_DONE_WITHIN_MS,
      });
      expect(second.isError).toBeFalsy();
      expect((second.structuredContent as { name: string }).name).toBe('Across_Restart');
      expect((await client.experimental.tasks.getTask(queued.taskId)).status).toBe('completed');
    } finally {
      await client.close();
      await worker?.stop();
      await srv.stop();
    }
  });
});

describe('MCP Tasks over Kafka on two PostgreSQL replicas', () => {
  const topic = uniqueName('tasks-replicas');
  const group = uniqueName('tasks-replicas-workers');
  const token = 'replica-token';
  const gateDir = tempDir();
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let worker: InProcessWorker;
  let probe: KafkaProbe;
  let results: TopicWatch;
  let onA: Client;
  let onB: Client;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    const env = taskServerEnv(brokers, topic, { DATABASE_URL: db.url, MCP_AUTH_TOKEN: token });
    a = await startTestServer(env);
    b = await startTestServer(env);
    probe = await new KafkaProbe(brokers).connect();
    results = await probe.watch(`${topic}.results`);
    // The worker reaches A only: whatever B answers, it read from the shared database.
    worker = await startInProcessWorker(
      workerEnv({ brokers, topic, group, serverUrl: a.url, extra: { MCP_AUTH_TOKEN: token } }),
    );
    ({ client: onA } = await connectStreamable(a.url, bearer(token)));
    ({ client: onB } = await connectStreamable(b.url, bearer(token)));
  });

  afterAll(async () => {
    await onA?.close();
    await onB?.close();
    await worker?.stop();
    await results?.stop();
    await probe?.close();
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('answers tasks/get, tasks/result and tasks/list on B for a task created on A', async () => {
    const task = await createTask(onA, selfServer('Replicated'));
    expect((await onB.experimental.tasks.getTask(task.taskId)).taskId).toBe(task.taskId);
    const result = await onB.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, {
      timeout: TASK_DONE_WITHIN_MS,
    });
    expect((result.structuredContent as { name: string }).name).toBe('Replicated');
    expect((await onB.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    expect((await onB.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(task.taskId);
  });

  it('cancels on B a task running on A: A stops its child and the worker commits', async () => {
    const gate = join(gateDir, 'never');
    const childToken = uniqueName('replica-gate');
    const task = await createTask(onA, gatedServer('Gated_On_A', gate, childToken));
    await waitForProcesses(childToken, SANDBOXED_CHILD_PROCESSES);
    expect((await onB.experimental.tasks.cancelTask(task.taskId)).status).toBe('cancelled');
    await waitUntilGone(childToken);
    const event = await outcomeOf(results, task.taskId);
    expect(event?.status).toBe('succeeded');
    expect(event?.result?.text).toMatch(/is cancelled/);
    expect((await onA.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    await waitUntil(() => probe.committedAtEnd(group, topic), 30_000, 'jobs committed');
    writeFileSync(gate, '');
  });
});

describe('MCP Tasks over Kafka: a dead-lettered job', () => {
  const topic = uniqueName('tasks-dlq');
  const group = uniqueName('tasks-dlq-workers');
  const gateDir = tempDir();
  const MAX_ATTEMPTS = 2;
  let stack: TaskStack;
  let worker: InProcessWorker;

  beforeAll(async () => {
    stack = await startTaskStack(topic);
    // Every attempt of a call that never answers times out: retries are exhausted, the job dead-lettered.
    worker = await startInProcessWorker(
      workerEnv({
        brokers,
        topic,
        group,
        serverUrl: stack.srv.url,
        extra: { WORKER_CALL_TIMEOUT_MS: '2000', WORKER_MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
      }),
    );
  });

  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
  });

  it('ends the task failed with the reason the worker published on <topic>.results', async () => {
    const { client, probe, results } = stack;
    const childToken = uniqueName('dlq-gate');
    const gate = join(gateDir, 'never');
    const task = await createTask(client, gatedServer('Never_Answers', gate, childToken));
    const event = await outcomeOf(results, task.taskId);
    expect(event?.status).toBe('failed');
    expect(event?.error?.reason).toBe('retries-exhausted');
    await waitUntil(
      async () => (await client.experimental.tasks.getTask(task.taskId)).status === 'failed',
      30_000,
      'the task failed from the outcome event',
    );
    const failed = await client.experimental.tasks.getTask(task.taskId);
    expect(failed.statusMessage).toMatch(
      new RegExp(`^job dead-lettered \\(retries-exhausted: gave up after ${MAX_ATTEMPTS} attempts`),
    );
    const dead = await probe.readTopic(`${topic}.dlq`, (m) =>
      m.some((x) => x.key?.toString() === task.taskId),
    );
    expect(dead.some((m) => m.key?.toString() === task.taskId)).toBe(true);
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/job dead-lettered/);
    await waitUntilGone(childToken);
    writeFileSync(gate, '');
  });
});
