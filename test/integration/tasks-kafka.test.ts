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
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { requestFingerprint } from '../../src/server/idempotency.ts';
import { TASK_TOOLS } from '../../src/tasks/kafka-tasks.ts';
import { decodeJobMessage } from '../../src/worker/envelope.ts';
import { SANDBOXED_CHILD_PROCESSES, waitForProcesses, waitUntilGone } from '../helpers/host-processes.ts';
import { connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { call, EXPECTED_TOOLS, textOf } from '../helpers/mcp-suite.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { createTask, selfServer, taskServerEnv } from '../helpers/tasks.ts';
import {
  type InProcessWorker,
  KafkaProbe,
  scrapeMetric,
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

/** Matches the `took N ms` ending of server_initialize's text. */
const TOOK_MS = /; took \d+ ms\.$/;

/**
 * A server_initialize result with its run-specific fields replaced by placeholders, so two runs
 * of the same input compare equal in everything else (content, isError, every other field of
 * structuredContent, any _meta). Each field is run-specific for a stated reason, and each must
 * be there — a normalisation that matches nothing fails instead of hiding a difference:
 * - structuredContent.durationMs: the wall-clock time of that run's spawn + handshake + listing;
 * - the `took N ms` at the end of the text block: the same duration, in the text.
 */
function normaliseRunSpecific(result: Record<string, unknown>): Record<string, unknown> {
  const { content, structuredContent } = result as {
    content: Array<{ type: string; text?: string }>;
    structuredContent: Record<string, unknown>;
  };
  expect(typeof structuredContent.durationMs).toBe('number');
  expect(content).toHaveLength(1);
  expect(content[0]?.text).toMatch(TOOK_MS);
  return {
    ...result,
    content: [{ ...content[0], text: content[0]!.text!.replace(TOOK_MS, '; took <durationMs> ms.') }],
    structuredContent: { ...structuredContent, durationMs: '<durationMs>' },
  };
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

  // The worker is part of the setup, so every case stands alone (`-t` runs any one of them);
  // the cancelled-before-any-worker case has its own stack below.
  beforeAll(async () => {
    stack = await startTaskStack(topic);
    ({ srv, probe, results, client } = stack);
    worker = await startInProcessWorker(workerEnv({ brokers, topic, group, serverUrl: srv.url }));
  });

  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
  });

  it('declares the tasks capability and lists server_initialize as task-capable, the notes tools not', async () => {
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    const { tools } = await client.listTools();
    const optional = tools.filter((t) => t.execution?.taskSupport === 'optional').map((t) => t.name);
    expect(optional).toEqual([...TASK_TOOLS]);
    expect(tools.some((t) => t.execution?.taskSupport === 'required')).toBe(false);
    // Every other tool — the notes tools — is forbidden (absent = forbidden, MCP 2025-11-25).
    const forbidden = tools.filter((t) => (t.execution?.taskSupport ?? 'forbidden') === 'forbidden');
    expect(forbidden.map((t) => t.name).sort()).toEqual(EXPECTED_TOOLS.filter((n) => !TASK_TOOLS.has(n)));
  });

  /**
   * Valid arguments for each tool that must refuse a task-augmented call, so the refusal — not a
   * schema error — is what is tested, and "nothing ran" means something for the tools with an
   * effect. A tool listed as forbidden without an entry here fails the test below: add it.
   */
  const refusedTitle = uniqueName('Refused Task');
  const keptTitle = uniqueName('Kept Note');
  const REFUSAL_ARGS: Record<string, Record<string, unknown>> = {
    save_note: { title: refusedTitle, content: 'must not be written' },
    list_notes: { limit: 5 },
    read_note: { title: keptTitle },
    search_notes: { keyword: 'Kept' },
    delete_note: { title: keptTitle },
  };

  it('refuses a task-augmented call of every taskSupport-forbidden tool with -32601 and runs nothing', async () => {
    expect(textOf(await call(client, 'save_note', { title: keptTitle, content: 'stays' }))).toMatch(/saved/);
    const forbidden = (await client.listTools()).tools
      .filter((t) => (t.execution?.taskSupport ?? 'forbidden') === 'forbidden')
      .map((t) => t.name);
    expect(forbidden.length).toBeGreaterThan(0);
    expect(Object.keys(REFUSAL_ARGS).sort()).toEqual([...forbidden].sort());
    const jobsBefore = [...(await probe.ends(topic)).values()].reduce((a, b) => a + b, 0);
    const tasksBefore = (await client.experimental.tasks.listTasks()).tasks.length;
    const metrics = `${srv.url}/metrics`;
    for (const name of forbidden) {
      const ranBefore = await scrapeMetric(metrics, 'mcp_tool_calls_total', { tool: name });
      const refused = client.request(
        { method: 'tools/call', params: { name, arguments: REFUSAL_ARGS[name], task: { ttl: 60_000 } } },
        CreateTaskResultSchema,
      );
      await expect(refused, name).rejects.toBeInstanceOf(McpError);
      await expect(refused, name).rejects.toMatchObject({
        code: ErrorCode.MethodNotFound,
        message: expect.stringContaining(
          `Tool ${name} does not support task-augmented calls (execution.taskSupport: forbidden)`,
        ),
      });
      // The tool did not run (the runtime counts every call, whatever its outcome).
      expect(await scrapeMetric(metrics, 'mcp_tool_calls_total', { tool: name }), name).toBe(ranBefore);
    }
    // No task, no job; save_note wrote nothing and delete_note deleted nothing.
    expect((await client.experimental.tasks.listTasks()).tasks).toHaveLength(tasksBefore);
    expect([...(await probe.ends(topic)).values()].reduce((a, b) => a + b, 0)).toBe(jobsBefore);
    expect(await srv.store.getNote(refusedTitle)).toBeUndefined();
    expect((await srv.store.getNote(keptTitle))?.content).toBe('stays');
    // The session keeps serving: the same tools answer a plain call.
    expect(textOf(await call(client, 'read_note', { title: keptTitle }))).toMatch(/stays$/);
  });

  it('completes a task with the same result a direct call gives, run under idempotency key = task id', async () => {
    const args = selfServer('Task_Direct');
    const task = await createTask(client, args);
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    const direct = await call(client, 'server_initialize', args);
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toMatch(/^Server 'Task_Direct' initialized: mcp-hybrid-notes/);
    // tasks/result carries the related-task marker the specification requires; nothing else is added.
    expect(result._meta).toEqual({ [RELATED_TASK_META_KEY]: { taskId: task.taskId } });
    const { _meta: _related, ...taskResult } = result;
    expect(normaliseRunSpecific(taskResult)).toEqual(normaliseRunSpecific(direct));

    // The job's idempotency key is the task id. The enqueued envelope: jobID = task id, keyed by it.
    const written = (
      await probe.readTopic(topic, (all) => all.some((m) => m.key?.toString() === task.taskId))
    ).filter((m) => m.key?.toString() === task.taskId);
    expect(written).toHaveLength(1);
    expect(decodeJobMessage(written[0]!.value, 1024 * 1024)).toEqual({
      jobID: task.taskId,
      jobType: 'tool-call',
      payload: { tool: 'server_initialize', arguments: args },
    });
    // The tool run: the server recorded its result under `<tool>:<key>` with key = task id —
    // the key the worker's call carried (tool-runtime.ts) — for exactly these arguments, and that
    // record is the task's stored result.
    const recorded = await srv.store.getIdempotentResult(`server_initialize:${task.taskId}`);
    expect(recorded?.fingerprint).toBe(requestFingerprint('server_initialize', args));
    const record = await srv.store.tasks.get(task.taskId, Date.now());
    expect(record?.result).toBeDefined();
    expect(recorded?.result).toEqual(record?.result);
    // And the worker reported the job under the same id.
    const event = await outcomeOf(results, task.taskId);
    expect(event).toMatchObject({
      jobID: task.taskId,
      jobType: 'tool-call',
      status: 'succeeded',
      attempts: 1,
    });
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

  it('lists this session’s tasks and hides them from another session', async () => {
    // Its own task, so the case does not depend on the ones before it having run.
    const own = await createTask(client, selfServer('Listed'));
    const { tasks } = await client.experimental.tasks.listTasks();
    expect(tasks.map((t) => t.taskId)).toContain(own.taskId);
    const { client: other } = await connectStreamable(srv.url);
    expect((await other.experimental.tasks.listTasks()).tasks).toEqual([]);
    await expect(other.experimental.tasks.getTask(own.taskId)).rejects.toThrow(/not found/i);
    await other.close();
    await client.experimental.tasks.getTaskResult(own.taskId, CallToolResultSchema);
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

describe('MCP Tasks over Kafka: a task cancelled before any worker started', () => {
  const topic = uniqueName('tasks-cancelled');
  const group = uniqueName('tasks-cancelled-workers');
  let stack: TaskStack;
  let srv: TestServer;
  let probe: KafkaProbe;
  let results: TopicWatch;
  let client: Client;
  let worker: InProcessWorker | undefined;

  // No worker yet: the case starts it after cancelling, so the job is surely read after the cancel.
  beforeAll(async () => {
    stack = await startTaskStack(topic);
    ({ srv, probe, results, client } = stack);
  });

  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
  });

  it('skips a task cancelled before any worker ran it, and commits its job', async () => {
    const task = await createTask(client, selfServer('Cancelled_Early'));
    expect(task.status).toBe('working');
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    worker = await startInProcessWorker(workerEnv({ brokers, topic, group, serverUrl: srv.url }));
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
