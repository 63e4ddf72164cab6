/**
 * MCP Tasks over Kafka, the protocol surface a client relies on (docs/tasks.md), on real servers
 * with the official client and a real broker:
 * - without KAFKA_BROKERS no `tasks` capability, no tasks/* methods, and a task-augmented call is
 *   refused before the tool runs (the SDK's check; see docs/tasks.md on the spec's wording);
 * - the shared `anonymous` context of requests without a session (stateless HTTP), which a
 *   stateful session cannot see into, nor the other way round;
 * - tasks/list pagination over MCP (MCP_TASKS_PAGE_SIZE);
 * - the CreateTaskResult's pollInterval and the ScheduledJobEnvelope written to the jobs topic;
 * - the pruner deleting an expired record on its own schedule (MCP_TASK_PRUNE_INTERVAL).
 * No worker runs here: every task stays `working` unless it expires.
 */
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateTaskResultSchema, ErrorCode, type Task } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { decodeJobMessage } from '../../src/worker/envelope.ts';
import { toolCallPayloadSchema } from '../../src/worker/handlers/tool-call.ts';
import { connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { createTask, selfServer, taskServerEnv } from '../helpers/tasks.ts';
import { KafkaProbe, tempDir, uniqueName, waitUntil } from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');
const POLL_INTERVAL_MS = 200;
const PAGE_SIZE = 3;

describe('a server without KAFKA_BROKERS', () => {
  let srv: TestServer;
  let client: Client;

  beforeAll(async () => {
    srv = await startTestServer({ MCP_INIT_ALLOWED_COMMANDS: 'node' });
    ({ client } = await connectStreamable(srv.url));
  });

  afterAll(async () => {
    await client?.close();
    await srv?.stop();
  });

  it('declares no tasks capability and lists no task-capable tool', async () => {
    const capabilities = client.getServerCapabilities();
    expect(capabilities?.tools).toBeDefined();
    expect(capabilities).not.toHaveProperty('tasks');
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    for (const tool of tools) expect(tool.execution?.taskSupport ?? 'forbidden').toBe('forbidden');
  });

  it('answers tasks/* with -32601: there is no task to get, list or cancel', async () => {
    await expect(client.experimental.tasks.listTasks()).rejects.toMatchObject({
      code: ErrorCode.MethodNotFound,
    });
    await expect(client.experimental.tasks.getTask('0'.repeat(32))).rejects.toMatchObject({
      code: ErrorCode.MethodNotFound,
    });
  });

  it('refuses a task-augmented call before the tool runs, and keeps serving', async () => {
    const title = uniqueName('refused-task');
    await expect(
      client.request(
        {
          method: 'tools/call',
          params: { name: 'save_note', arguments: { title, content: 'v1' }, task: { ttl: 60_000 } },
        },
        CreateTaskResultSchema,
      ),
    ).rejects.toMatchObject({
      code: ErrorCode.InternalError,
      message: expect.stringMatching(/does not support task creation/),
    });
    // Nothing ran: the note is not there. A plain call of the same tool works.
    const read = await call(client, 'read_note', { title });
    expect(read.isError).toBe(true);
    expect(textOf(read)).toBe(`Note '${title}' not found.`);
    expect(textOf(await call(client, 'save_note', { title, content: 'v1' }))).toBe(
      `Note '${title}' saved successfully.`,
    );
  });
});

describe('MCP Tasks over Kafka: scope, listing, the enqueued job and pruning', () => {
  const topic = uniqueName('tasks-protocol');
  // One SQLite file behind a stateless and a stateful server, as two replicas would share a database.
  const notesDb = join(tempDir(), 'notes.db');
  let stateless: TestServer;
  let stateful: TestServer;
  let probe: KafkaProbe;
  const clients: Client[] = [];

  const connect = async (srv: TestServer) => {
    const { client } = await connectStreamable(srv.url);
    clients.push(client);
    return client;
  };
  const listAll = async (client: Client): Promise<Task[]> => {
    const tasks: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.experimental.tasks.listTasks(cursor);
      tasks.push(...page.tasks);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return tasks;
  };
  const ids = (tasks: Task[]) => tasks.map((t) => t.taskId);

  beforeAll(async () => {
    const env = taskServerEnv(brokers, topic, {
      NOTES_DB: notesDb,
      MCP_TASK_POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
      MCP_TASKS_PAGE_SIZE: String(PAGE_SIZE),
    });
    stateless = await startTestServer({ ...env, MCP_STATELESS: 'true' });
    // Only this one prunes often: the pruning test below waits for it.
    stateful = await startTestServer({ ...env, MCP_TASK_PRUNE_INTERVAL: '200ms' });
    probe = await new KafkaProbe(brokers).connect();
  });

  afterAll(async () => {
    for (const client of clients) await client.close();
    await probe?.close();
    await stateless?.stop();
    await stateful?.stop();
  });

  it('puts sessionless (stateless HTTP) requests in one shared anonymous context that sessions do not see', async () => {
    const a = await connect(stateless);
    const b = await connect(stateless);
    const session = await connect(stateful);
    expect(a.getServerCapabilities()?.tasks?.list).toBeDefined();

    const fromA = await createTask(a, selfServer('Anonymous_A'));
    const fromB = await createTask(b, selfServer('Anonymous_B'));
    expect((await b.experimental.tasks.getTask(fromA.taskId)).taskId).toBe(fromA.taskId);
    expect((await a.experimental.tasks.getTask(fromB.taskId)).taskId).toBe(fromB.taskId);
    expect(ids(await listAll(a))).toEqual(expect.arrayContaining([fromA.taskId, fromB.taskId]));
    expect(ids(await listAll(b))).toEqual(expect.arrayContaining([fromA.taskId, fromB.taskId]));
    expect((await stateless.store.tasks.get(fromA.taskId, Date.now()))?.scope).toBe('anonymous');

    // A stateful session sees neither, and its own task is not anonymous.
    expect(await listAll(session)).toEqual([]);
    await expect(session.experimental.tasks.getTask(fromA.taskId)).rejects.toThrow(/not found/i);
    await expect(session.experimental.tasks.cancelTask(fromB.taskId)).rejects.toThrow(/not found/i);
    const own = await createTask(session, selfServer('Session_Own'));
    expect(ids(await listAll(session))).toEqual([own.taskId]);
    expect(ids(await listAll(a))).not.toContain(own.taskId);
    await expect(a.experimental.tasks.getTask(own.taskId)).rejects.toThrow(/not found/i);
    // The anonymous tasks were not cancelled by the session's attempt.
    expect((await a.experimental.tasks.getTask(fromB.taskId)).status).toBe('working');
  });

  it('does not watch a sessionless task for status notifications no client could hear', async () => {
    const a = await connect(stateless);
    const session = await connect(stateful);
    const polls = (store: TestServer['store'], taskId: string) =>
      vi.mocked(store.tasks.get).mock.calls.filter(([id]) => id === taskId).length;
    vi.spyOn(stateless.store.tasks, 'get');
    vi.spyOn(stateful.store.tasks, 'get');
    try {
      const anonymous = await createTask(a, selfServer('Unwatched'));
      // Reads made while creating it (the watch's first would come a poll interval later).
      const atCreation = polls(stateless.store, anonymous.taskId);
      const own = await createTask(session, selfServer('Watched'));
      // The session's task is watched: its status is read every MCP_TASK_POLL_INTERVAL_MS.
      await expect
        .poll(() => polls(stateful.store, own.taskId), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(3);
      // Meanwhile nothing read the sessionless task's status on its own.
      expect(polls(stateless.store, anonymous.taskId)).toBe(atCreation);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('pages tasks/list by MCP_TASKS_PAGE_SIZE: following nextCursor to the end sees every task once', async () => {
    const client = await connect(stateful);
    const created: string[] = [];
    for (let i = 0; i < 2 * PAGE_SIZE + 1; i++) {
      created.push((await createTask(client, selfServer(`Paged_${i}`))).taskId);
    }
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await client.experimental.tasks.listTasks(cursor);
      pages.push(ids(page.tasks));
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages.length <= created.length);
    expect(pages.map((p) => p.length)).toEqual([PAGE_SIZE, PAGE_SIZE, 1]);
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual([...created].sort());

    await expect(client.experimental.tasks.listTasks('not-a-cursor')).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
      message: expect.stringMatching(/invalid tasks\/list cursor/),
    });
  });

  it('answers CreateTaskResult with the configured pollInterval and writes the task as a ScheduledJobEnvelope', async () => {
    const client = await connect(stateful);
    const args = selfServer('Enveloped');
    const task = await createTask(client, args, 120_000);
    expect(task).toMatchObject({ status: 'working', ttl: 120_000, pollInterval: POLL_INTERVAL_MS });
    expect((await client.experimental.tasks.getTask(task.taskId)).pollInterval).toBe(POLL_INTERVAL_MS);

    const messages = await probe.readTopic(topic, (all) =>
      all.some((m) => m.key?.toString() === task.taskId),
    );
    const written = messages.filter((m) => m.key?.toString() === task.taskId);
    expect(written).toHaveLength(1);
    const envelope = decodeJobMessage(written[0]!.value, 1024 * 1024);
    expect(envelope).toEqual({
      jobID: task.taskId,
      jobType: 'tool-call',
      payload: { tool: 'server_initialize', arguments: args },
    });
    expect(toolCallPayloadSchema.safeParse(envelope.payload).success).toBe(true);
  });

  it('deletes an expired task from the database on the pruner’s own schedule (MCP_TASK_PRUNE_INTERVAL)', async () => {
    const client = await connect(stateful);
    const task = await createTask(client, selfServer('Pruned'), 1_000);
    expect(task.ttl).toBe(1_000);
    // `now` = 0: the row whatever its expiry, i.e. whether it is still in the database at all.
    expect(await stateful.store.tasks.get(task.taskId, 0)).toBeDefined();
    await waitUntil(
      async () => (await stateful.store.tasks.get(task.taskId, 0)) === undefined,
      30_000,
      'the pruner to delete the expired task',
    );
    await expect(client.experimental.tasks.getTask(task.taskId)).rejects.toThrow(/not found/i);
  });
});
