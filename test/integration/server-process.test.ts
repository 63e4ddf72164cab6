/**
 * The mcp-server entrypoint as a real process: stdio mode through the SDK's stdio client
 * (exactly how Claude Desktop launches it), nothing but protocol on stdout, notes surviving
 * a restart, and graceful shutdown on SIGTERM in HTTP mode with sessions open.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSse, connectStreamable } from '../helpers/mcp-server.ts';
import { call, runNotesScenario, textOf } from '../helpers/mcp-suite.ts';
import { REPO, SERVER_ENTRY, spawnEntry } from '../helpers/processes.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-stdio-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function stdioClient(notesDb: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER_ENTRY, '--stdio'],
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NOTES_DB: notesDb,
      LOG_LEVEL: 'debug',
    },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'stdio-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

describe('stdio mode', () => {
  it('serves every tool and resource to the SDK stdio client, and notes survive a restart', async () => {
    const db = join(dir, 'notes.db');
    const first = await stdioClient(db);
    await runNotesScenario(first.client, 'stdio');
    await call(first.client, 'save_note', { title: 'persisted', content: 'across restarts' });
    await first.client.close();

    const second = await stdioClient(db);
    const read = await call(second.client, 'read_note', { title: 'persisted' });
    expect(read.isError).toBeFalsy();
    expect(textOf(read)).toContain('across restarts');
    await second.client.close();
  });

  it('writes only JSON-RPC to stdout and its logs to stderr, and exits 0 when stdin closes', async () => {
    const child = spawn(process.execPath, [SERVER_ENTRY, '--stdio'], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NOTES_DB: ':memory:', LOG_LEVEL: 'debug' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => stdout.push(l));
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'save_note', arguments: { title: 'a', content: 'b' } },
    });
    send({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'read_note', arguments: { title: 'zz' } },
    });
    // Besides the three responses, notifications (the save's log message, list_changed).
    const responses = () => stdout.map((l) => JSON.parse(l)).filter((m) => m.id !== undefined);
    const deadline = Date.now() + 15_000;
    while (responses().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.stdin.end();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(responses()).toHaveLength(3);
    for (const line of stdout) expect(JSON.parse(line).jsonrpc).toBe('2.0');
    expect(stdout.map((l) => JSON.parse(l).method).filter(Boolean)).toContain('notifications/message');
    const byId = new Map(responses().map((m) => [m.id, m]));
    expect(byId.get(2).result.content[0].text).toBe("Note 'a' saved successfully.");
    expect(byId.get(3).result.isError).toBe(true);
    expect(stderr.length).toBeGreaterThan(0);
    for (const line of stderr) expect(JSON.parse(line)).toHaveProperty('level');
    expect(stderr.some((l) => l.includes('MCP server serving stdio'))).toBe(true);
  });
});

describe('HTTP mode process', () => {
  it('shuts down on SIGTERM with sessions open: closes them, exits 0', async () => {
    const proc = spawnEntry(SERVER_ENTRY, [], {
      PORT: '0',
      NOTES_DB: join(dir, 'http.db'),
      LOG_LEVEL: 'info',
    });
    const listening = await proc.waitForLog((l) => l.msg === 'MCP server listening');
    const url = listening.url as string;
    const { client } = await connectStreamable(url);
    const sse = await connectSse(url);
    await call(client, 'save_note', { title: 'before shutdown', content: 'x' });
    await sse.ping();
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(proc.logs.some((l) => l.msg === 'MCP server stopped')).toBe(true);
    expect(proc.stray).toEqual([]);
  });

  it('refuses to start with a clear message naming a bad variable', async () => {
    const proc = spawnEntry(SERVER_ENTRY, [], { PORT: 'eighty', NOTES_DB: ':memory:' }, 'stderr');
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    expect(proc.stray.join('\n')).toMatch(/PORT: must be an integer between 0 and 65535, got 'eighty'/);
  });

  it('prints help', async () => {
    const proc = spawnEntry(SERVER_ENTRY, ['--help'], {});
    expect((await proc.exited).code).toBe(0);
    expect(proc.stray.join('\n')).toMatch(/mcp-server --stdio/);
  });
});
