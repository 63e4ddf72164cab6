/**
 * The server installs @hono/node-server's lightweight Request/Response as globals
 * (src/server/web-globals.ts), so the SDK transport's JSON replies are written without reading a
 * web stream back. This file checks that starting the HTTP server installs them, that replies
 * are still complete on the wire, and that what else in the process uses the web globals — a
 * fetch reply, a Response read as a native one, Response.json — still behaves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lightweightWebGlobalsInstalled, useLightweightWebGlobals } from '../../src/server/web-globals.ts';
import { postMcp, startTestServer, type TestServer } from '../helpers/mcp-server.ts';

const PROTOCOL = '2025-11-25';
const installedBeforeStart = lightweightWebGlobalsInstalled();

describe('lightweight web globals', () => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('are installed by starting the HTTP server, not before', () => {
    expect(installedBeforeStart).toBe(false);
    expect(lightweightWebGlobalsInstalled()).toBe(true);
    useLightweightWebGlobals(); // a second call changes nothing
    expect(lightweightWebGlobalsInstalled()).toBe(true);
  });

  it('a JSON reply of a session is whole on the wire, with its length and session header', async () => {
    const post = (body: object, session?: string) => postMcp(srv.url, body, session, {}, PROTOCOL);
    const init = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    expect(init.status).toBe(200);
    const session = init.headers.get('mcp-session-id')!;
    await init.text();
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status).toBe(202);
    const content = 'é'.repeat(3000); // multi-byte: the length must count bytes, not characters
    await srv.store.saveNote('web globals', content);

    const reply = await post(
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'read_note', arguments: { title: 'web globals' } },
      },
      session,
    );
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(reply.headers.get('mcp-session-id')).toBe(session);
    const text = await reply.text();
    expect(Number(reply.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    const message = JSON.parse(text) as { id: number; result: { structuredContent: { content: string } } };
    expect(message.id).toBe(2);
    expect(message.result.structuredContent.content).toBe(content);
  });

  it('other users of the web globals still get native behaviour', async () => {
    const fetched = await fetch(`${srv.url}/health`);
    expect(fetched).toBeInstanceOf(Response);
    expect(await fetched.json()).toEqual({ status: 'ok' });

    const made = new Response('{"a":1}', { status: 201, headers: { 'content-type': 'application/json' } });
    expect(made).toBeInstanceOf(Response);
    expect(made.status).toBe(201);
    expect(made.headers.get('content-type')).toBe('application/json');
    expect(await made.json()).toEqual({ a: 1 });
    expect(made.bodyUsed).toBe(true);

    const streamed = new Response(new Blob(['x', 'y']).stream());
    expect(await streamed.text()).toBe('xy');
    expect(await Response.json({ b: 2 }).json()).toEqual({ b: 2 });
    expect(new Request('http://127.0.0.1/x', { method: 'POST', body: 'z' })).toBeInstanceOf(Request);
  });
});
