/**
 * Bad input against the real HTTP server (tools, prompts, completion, resources, bodies): each
 * gets a clear error naming what is wrong, and the server keeps serving. Also idempotency keys:
 * a reuse with other arguments is refused, and records past MCP_IDEMPOTENCY_TTL are pruned
 * (then the key runs again as a new request).
 */
import { gzipSync } from 'node:zlib';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_META_KEY, REPLAYED_META_KEY } from '../../src/protocol.ts';
import { connectStreamable, startTestServer, type TestServer, waitFor } from '../helpers/mcp-server.ts';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function start(env: Record<string, string> = {}): Promise<{ server: TestServer; client: Client }> {
  const server = await startTestServer({ MCP_INIT_SANDBOX: 'off', ...env });
  servers.push(server);
  const { client } = await connectStreamable(server.url);
  return { server, client };
}

const textOf = (result: unknown) => (result as { content: Array<{ text: string }> }).content[0]!.text;

describe('bad input gets a clear error', () => {
  it('refuses whitespace-only titles and NUL characters, naming the field', async () => {
    const { client } = await start();
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['save_note', { title: '  \t ', content: 'x' }, /title must not be only whitespace/],
      ['save_note', { title: 'a\0b', content: 'x' }, /title must not contain NUL/],
      ['save_note', { title: 'ok', content: 'a\0b' }, /content must not contain NUL/],
      ['search_notes', { keyword: 'a\0b' }, /keyword must not contain NUL/],
      ['read_note', { title: 'a\0b' }, /title must not contain NUL/],
    ];
    for (const [name, args, message] of cases) {
      const result = await client.callTool({ name, arguments: args });
      expect(result.isError, name).toBe(true);
      expect(textOf(result)).toMatch(message);
    }
    const listed = await client.callTool({ name: 'list_notes', arguments: {} });
    expect(textOf(listed)).toBe('No notes saved yet.');
  });

  it('refuses the same titles and keywords in prompts (-32602), and completes a NUL prefix to nothing', async () => {
    const { client } = await start();
    await client.callTool({ name: 'save_note', arguments: { title: 'a note', content: 'x' } });
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['note_to_checklist', { title: '  \t ' }, /title must not be only whitespace/],
      ['note_to_checklist', { title: 'a\0b' }, /title must not contain NUL/],
      ['summarise_notes', { keyword: 'a\0b' }, /keyword must not contain NUL/],
    ];
    for (const [name, args, message] of cases) {
      const err = await client.getPrompt({ name, arguments: args }).then(
        () => undefined,
        (e: unknown) => e as { code: number; message: string },
      );
      expect(err?.code, name).toBe(-32602);
      expect(err?.message).toMatch(message);
    }
    const completion = await client.complete({
      ref: { type: 'ref/prompt', name: 'note_to_checklist' },
      argument: { name: 'title', value: 'a\0' },
    });
    expect(completion.completion).toEqual({ values: [], total: 0, hasMore: false });
    const typed = await client.complete({
      ref: { type: 'ref/prompt', name: 'note_to_checklist' },
      argument: { name: 'title', value: 'a ' },
    });
    expect(typed.completion.values).toEqual(['a note']);
  });

  it('answers a malformed notes:// URI with -32602 (invalid params)', async () => {
    const { client } = await start();
    const err = await client.readResource({ uri: 'notes://%E0%A4%A' }).then(
      () => undefined,
      (e: unknown) => e as { code: number; message: string },
    );
    expect(err?.code).toBe(-32602);
    expect(err?.message).toMatch(/not valid percent-encoded UTF-8/);
    await expect(client.listResources()).resolves.toBeDefined();
  });

  it('answers a corrupt gzip body with 400 and a parse error, and still serves a good one', async () => {
    const { server } = await start({ MCP_STATELESS: 'true' });
    const post = (body: Buffer | string) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          accept: 'application/json, text/event-stream',
        },
        body,
      });
    const bad = await post('this is not gzip');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { code: -32700, message: expect.stringMatching(/could not be decoded/) },
    });
    const good = await post(
      gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} })),
    );
    expect(good.status).toBe(200);
    expect(await good.text()).toContain('save_note');
  });
});

describe('idempotency keys', () => {
  const call = (client: Client, key: string, args: Record<string, unknown>) =>
    client.callTool({ name: 'save_note', arguments: args, _meta: { [IDEMPOTENCY_META_KEY]: key } });

  it('replays a repeat with the same arguments and refuses one with different arguments', async () => {
    const { client } = await start();
    const first = await call(client, 'idem-A', { title: 'A', content: 'one' });
    expect(first.isError).toBeFalsy();
    const again = await call(client, 'idem-A', { content: 'one', title: 'A' });
    expect(again._meta?.[REPLAYED_META_KEY]).toBe(true);
    const reused = await call(client, 'idem-A', { title: 'B', content: 'two' });
    expect(reused.isError).toBe(true);
    expect(textOf(reused)).toMatch(
      /Idempotency key 'idem-A' was already used for a different save_note request/,
    );
    const read = await client.callTool({ name: 'read_note', arguments: { title: 'B' } });
    expect(read.isError).toBe(true);
  });

  it('prunes records older than MCP_IDEMPOTENCY_TTL on a timer; the key then runs again', async () => {
    const { server, client } = await start({ MCP_IDEMPOTENCY_TTL: '1s' });
    await call(client, 'idem-ttl', { title: 'T', content: 'first' });
    expect(await server.store.getIdempotentResult('save_note:idem-ttl')).toBeDefined();
    await waitFor(
      async () => (await server.store.getIdempotentResult('save_note:idem-ttl')) === undefined,
      15_000,
      'the record to be pruned',
    );
    const after = await call(client, 'idem-ttl', { title: 'T', content: 'second' });
    expect(after.isError).toBeFalsy();
    expect(after._meta?.[REPLAYED_META_KEY]).toBeUndefined();
    const read = await client.callTool({ name: 'read_note', arguments: { title: 'T' } });
    expect(textOf(read)).toContain('second');
  });
});
