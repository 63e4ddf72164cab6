/**
 * server_initialize and idempotent replay through the real MCP client over HTTP:
 * the server spawns this project's own `--stdio` mode as the child MCP server.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_META_KEY, REPLAYED_META_KEY } from '../../src/protocol.ts';
import { processesWith, SANDBOXED_CHILD_PROCESSES, waitForProcesses } from '../helpers/host-processes.ts';
import {
  callToolWith,
  connectClient,
  GENERATIONS,
  type Progress,
  type WireMessage,
  wireRecorder,
} from '../helpers/mcp-clients.ts';
import {
  connectStreamable,
  startTestServer,
  TEST_SANDBOX_PATHS,
  type TestServer,
  waitFor,
} from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { REPO, SERVER_ENTRY } from '../helpers/processes.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { quietWindow } from '../helpers/worker-stack.ts';

const FIXTURE = join(REPO, 'test/fixtures/mcp-fixture-server.ts');

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ MCP_INIT_ALLOWED_COMMANDS: 'node', MCP_INIT_TIMEOUT_MS: '20000' });
});
afterAll(async () => {
  await srv.stop();
});

describe('server_initialize over HTTP', () => {
  it("initializes this project's own stdio server, lists its tools and catalogs it", async () => {
    const { client } = await connectStreamable(srv.url);
    const result = await call(client, 'server_initialize', {
      name: 'Notes_Stdio',
      config: { command: 'node', args: [SERVER_ENTRY, '--stdio'], env: { NOTES_DB: ':memory:' } },
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = result.structuredContent as {
      name: string;
      status: string;
      protocolVersion: string;
      serverInfo: { name: string };
      tools: Array<{ name: string }>;
      durationMs: number;
    };
    expect(out.name).toBe('Notes_Stdio');
    expect(out.status).toBe('ready');
    expect(out.serverInfo.name).toBe('mcp-hybrid-notes');
    expect(out.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(out.tools.map((t) => t.name)).toContain('save_note');
    expect(out.durationMs).toBeGreaterThan(0);
    expect(textOf(result)).toMatch(/^Server 'Notes_Stdio' initialized: mcp-hybrid-notes/);

    const catalog = await client.readResource({ uri: 'servers://catalog' });
    const servers = JSON.parse((catalog.contents[0] as { text: string }).text).servers as Array<{
      name: string;
      status: string;
    }>;
    expect(servers.find((s) => s.name === 'Notes_Stdio')?.status).toBe('ready');
    await client.close();
  });

  it('refuses a command off the allowlist with a tool error and keeps serving', async () => {
    const { client } = await connectStreamable(srv.url);
    const refused = await call(client, 'server_initialize', {
      name: 'evil',
      config: { command: 'bash', args: ['-c', 'echo pwned'] },
    });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/^Server 'evil' failed to initialize \(not_allowed\)/);
    const badInput = await call(client, 'server_initialize', { name: 'x', config: { args: ['a'] } });
    expect(badInput.isError).toBe(true);
    expect(textOf(badInput)).toMatch(/command/);
    await client.ping();
    await client.close();
  });
});

describe('idempotent replay', () => {
  it('runs a keyed call once and answers repeats with the recorded result', async () => {
    const { client } = await connectStreamable(srv.url);
    await call(client, 'save_note', { title: 'replay me', content: 'v1' });
    const del = () =>
      client.callTool({
        name: 'delete_note',
        arguments: { title: 'replay me' },
        _meta: { [IDEMPOTENCY_META_KEY]: 'job-42' },
      });
    const first = await del();
    expect(textOf(first)).toBe("Note 'replay me' deleted.");
    expect(first._meta?.[REPLAYED_META_KEY]).toBeUndefined();
    // Without the key a second delete would fail with "not found"; with it, the record answers.
    const second = await del();
    expect(second.isError).toBeFalsy();
    expect(textOf(second)).toBe("Note 'replay me' deleted.");
    expect(second._meta?.[REPLAYED_META_KEY]).toBe(true);

    // The record survives a new session (it lives in the store, not the session).
    const { client: other } = await connectStreamable(srv.url);
    await call(other, 'save_note', { title: 'replay me', content: 'v2' });
    const third = await other.callTool({
      name: 'delete_note',
      arguments: { title: 'replay me' },
      _meta: { [IDEMPOTENCY_META_KEY]: 'job-42' },
    });
    expect(third._meta?.[REPLAYED_META_KEY]).toBe(true);
    expect(textOf(await call(other, 'read_note', { title: 'replay me' }))).toContain('v2');

    // Errors are not recorded: a failed keyed call can succeed on retry.
    const failed = await other.callTool({
      name: 'read_note',
      arguments: { title: 'later' },
      _meta: { [IDEMPOTENCY_META_KEY]: 'job-43' },
    });
    expect(failed.isError).toBe(true);
    await call(other, 'save_note', { title: 'later', content: 'now here' });
    const retried = await other.callTool({
      name: 'read_note',
      arguments: { title: 'later' },
      _meta: { [IDEMPOTENCY_META_KEY]: 'job-43' },
    });
    expect(retried.isError).toBeFalsy();

    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/mcp_tool_calls_total\{tool="delete_note",outcome="replayed"\} 2/);
    await client.close();
    await other.close();
  });
});

describe.each(GENERATIONS)(
  'server_initialize progress, logs, cancellation and resumption (%s client)',
  (generation) => {
    let srv: TestServer;
    /** Gate files: shown read-only inside the sandbox (its own /tmp is private). */
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'init-progress-'));
      // The sandbox runs as 65534 when the tests run as root: it must be able to look in.
      chmodSync(dir, 0o755);
      srv = await startTestServer({
        MCP_INIT_ALLOWED_COMMANDS: 'node',
        MCP_INIT_TIMEOUT_MS: '20000',
        MCP_INIT_SANDBOX_PATHS: [...TEST_SANDBOX_PATHS, dir].join(','),
        MCP_SSE_RETRY_MS: '100',
      });
    });
    afterAll(async () => {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** mcp_tool_calls_total for one tool and outcome, from the server's /metrics. */
    const toolCalls = async (tool: string, outcome: string) => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      const line = new RegExp(`^mcp_tool_calls_total\\{tool="${tool}",outcome="${outcome}"\\} (\\d+)$`, 'm');
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const cancelledCalls = () => toolCalls('server_initialize', 'cancelled');

    it('reports progress and log messages for each step (refusals as warnings, failures as errors), with no argument or env value in them', async () => {
      const c = await connectClient(generation, 'streamable', srv.url);
      try {
        const progress: Progress[] = [];
        const result = await callToolWith(
          c,
          {
            name: 'server_initialize',
            arguments: {
              name: 'Progressing',
              config: {
                command: 'node',
                args: [FIXTURE, '--token=hunter2-arg'],
                env: { FIXTURE_PROBE: 'sekrit-env' },
              },
            },
          },
          { onprogress: (p) => progress.push(p) },
        );
        expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
        expect(progress.map((p) => [p.progress, p.total])).toEqual([
          [1, 4],
          [2, 4],
          [3, 4],
          [4, 4],
        ]);
        const messages = c.notifications
          .of('notifications/message')
          .map((n) => n.params as { level: string; logger: string; data: { message: string } });
        expect(messages.map((m) => [m.level, m.logger, m.data.message])).toEqual([
          ['info', 'server_initialize', "Starting 'node' for server 'Progressing'"],
          ['info', 'server_initialize', "Server 'Progressing' spawned; handshaking"],
          [
            'info',
            'server_initialize',
            expect.stringMatching(
              /^Server 'Progressing' is fixture-server 1\.2\.3 \(protocol \d{4}-\d{2}-\d{2}\)$/,
            ),
          ],
          ['info', 'server_initialize', "Server 'Progressing' lists 3 tool(s)"],
        ]);
        const everything = JSON.stringify(c.notifications.received);
        expect(everything).not.toContain('hunter2');
        expect(everything).not.toContain('sekrit-env');

        const refused = await callToolWith(
          c,
          {
            name: 'server_initialize',
            arguments: { name: 'Refused', config: { command: 'bash', args: [] } },
          },
          {},
        );
        expect(refused.isError).toBe(true);
        expect(c.notifications.of('notifications/message').at(-1)?.params).toMatchObject({
          level: 'warning',
          data: { message: "Server 'Refused' failed to initialize (not_allowed)", reason: 'not_allowed' },
        });

        // A server that fails (here: exits before the handshake) is an error, not a refusal.
        const crashed = await callToolWith(
          c,
          {
            name: 'server_initialize',
            arguments: { name: 'Crashing', config: { command: 'node', args: ['-e', 'process.exit(3)'] } },
          },
          {},
        );
        expect(crashed.isError).toBe(true);
        expect(c.notifications.of('notifications/message').at(-1)?.params).toMatchObject({
          level: 'error',
          logger: 'server_initialize',
          data: { message: "Server 'Crashing' failed to initialize (crashed)", reason: 'crashed' },
        });
      } finally {
        await c.client.close();
      }
    });

    it('sends notifications/progress only for a call that carried a progressToken', async () => {
      const wire = wireRecorder();
      const c = await connectClient(generation, 'streamable', srv.url, { fetch: wire.fetch });
      const initialize = (name: string) => ({
        name: 'server_initialize',
        arguments: { name, config: { command: 'node', args: [FIXTURE] } },
      });
      const callOf = (name: string) =>
        wire
          .sent()
          .find(
            (m) => m.method === 'tools/call' && (m.params?.arguments as { name?: string })?.name === name,
          );
      const resultOnWire = (request: WireMessage | undefined) =>
        waitFor(
          () => wire.received().some((m) => m.id === request?.id && m.result !== undefined),
          15_000,
          `the result of request ${request?.id} on the wire`,
        );
      const progressOnWire = () => wire.received().filter((m) => m.method === 'notifications/progress');
      try {
        const silent = `Silent_${generation}`;
        const quiet = await callToolWith(c, initialize(silent), {});
        expect(quiet.isError, JSON.stringify(quiet.content)).toBeFalsy();
        const silentCall = callOf(silent);
        expect(silentCall?.params?._meta?.progressToken, 'the client sent no progressToken').toBeUndefined();
        await resultOnWire(silentCall);
        // The call did talk to its client: its log messages are on the wire, its progress is not.
        const logged = wire
          .received()
          .filter((m) => m.method === 'notifications/message')
          .map((m) => (m.params?.data as { message?: string } | undefined)?.message);
        expect(logged).toContain(`Server '${silent}' lists 3 tool(s)`);
        expect(progressOnWire()).toEqual([]);

        const told = `Told_${generation}`;
        const progress: Progress[] = [];
        const loud = await callToolWith(c, initialize(told), { onprogress: (p) => progress.push(p) });
        expect(loud.isError, JSON.stringify(loud.content)).toBeFalsy();
        const toldCall = callOf(told);
        const token = toldCall?.params?._meta?.progressToken;
        expect(token, 'the client sent a progressToken').toBeDefined();
        await resultOnWire(toldCall);
        expect(progress.map((p) => p.progress)).toEqual([1, 2, 3, 4]);
        // Anything the first call might still have sent would be here after the window.
        await quietWindow();
        expect(progressOnWire().map((m) => [m.params?.progressToken, m.params?.progress])).toEqual([
          [token, 1],
          [token, 2],
          [token, 3],
          [token, 4],
        ]);
      } finally {
        await c.client.close();
      }
    });

    it('stops the whole sandboxed child when the client cancels, before the call ends, and records nothing', async () => {
      const c = await connectClient(generation, 'streamable', srv.url);
      // Follows the child on the host: bwrap, the lifeline and the fixture all carry it in argv.
      const token = `cancel-${generation}-${process.pid}`;
      const name = `Cancelled_${generation}`;
      const gate = join(dir, `${generation}-cancel-gate`);
      const before = {
        cancelled: await cancelledCalls(),
        errors: await toolCalls('server_initialize', 'error'),
      };
      try {
        const controller = new AbortController();
        let treeUp: Promise<void> | undefined;
        const call = callToolWith(
          c,
          {
            name: 'server_initialize',
            arguments: {
              name,
              config: { command: 'node', args: [FIXTURE, token], env: { FIXTURE_GATE_FILE: gate } },
            },
          },
          {
            signal: controller.signal,
            onprogress: (p) => {
              // Cancelled only once the whole tree is up, so the checks below see it go.
              if (p.progress === 2)
                treeUp = waitForProcesses(token, SANDBOXED_CHILD_PROCESSES).then(() => controller.abort());
            },
          },
        );
        await expect(call).rejects.toThrow();
        await treeUp;
        // The server counts a cancelled call once its handler has returned — for
        // server_initialize, once the child and its sandbox are gone. Ignored, the cancel would
        // leave the call running until MCP_INIT_TIMEOUT_MS, which records a failed entry.
        await waitFor(
          async () => (await cancelledCalls()) === before.cancelled + 1,
          30_000,
          'server_initialize counted as cancelled',
        );
        expect(processesWith(token), 'no process of the sandbox left when the call ended').toEqual([]);
        // The child is gone for good: opening its gate now lets nothing handshake and catalog it.
        writeFileSync(gate, '');
        await quietWindow();
        expect((await srv.store.listCatalog()).find((e) => e.name === name)).toBeUndefined();
        expect(await toolCalls('server_initialize', 'error')).toBe(before.errors);
      } finally {
        await c.client.close();
      }
    });

    it('delivers the result after the stream drops mid-call and the client resumes with Last-Event-ID', async () => {
      const target = new URL(srv.url);
      const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
      const c = await connectClient(generation, 'streamable', proxy.url);
      const gate = join(dir, `${generation}-gate`);
      const name = `Resumed_${generation}`;
      try {
        let spawned!: () => void;
        const atSpawn = new Promise<void>((resolve) => {
          spawned = resolve;
        });
        const call = callToolWith(
          c,
          {
            name: 'server_initialize',
            arguments: {
              name,
              config: { command: 'node', args: [FIXTURE], env: { FIXTURE_GATE_FILE: gate } },
            },
          },
          { onprogress: (p) => p.progress === 2 && spawned() },
        );
        await atSpawn;
        proxy.hold();
        writeFileSync(gate, '');
        // The call finishes on the server while the client is cut off; its result waits in the
        // session's event store.
        await waitFor(
          async () => (await srv.store.listCatalog()).some((e) => e.name === name && e.status === 'ready'),
          15_000,
          'the initialize to finish on the server',
        );
        proxy.release();
        const result = await call;
        expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
        expect(result.structuredContent).toMatchObject({ name, status: 'ready' });
        expect(proxy.sent()).toMatch(/last-event-id: \S+/i);
      } finally {
        await c.client.close().catch(() => {});
        await proxy.close();
      }
    });
  },
);
