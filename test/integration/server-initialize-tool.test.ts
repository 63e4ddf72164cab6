/**
 * server_initialize and idempotent replay through the real MCP client over HTTP:
 * the server spawns this project's own `--stdio` mode as the child MCP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_META_KEY, REPLAYED_META_KEY } from '../../src/protocol.ts';
import { connectStreamable, startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { call, textOf } from '../helpers/mcp-suite.ts';
import { SERVER_ENTRY } from '../helpers/processes.ts';

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
