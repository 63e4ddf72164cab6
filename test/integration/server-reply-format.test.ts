/**
 * The reply format per request of a Streamable HTTP session (src/server/reply-format.ts), on
 * the wire with raw HTTP: plain JSON when only the response travels; an SSE stream — priming
 * event first, events with ids, resumable — as soon as the request sends a notification of its
 * own, and from the start for initialize, progress-token calls and server_initialize.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openRawSession,
  postMcp,
  readSseUntil,
  startTestServer,
  type TestServer,
} from '../helpers/mcp-server.ts';

const PROTOCOL = '2025-11-25';

interface SseEvent {
  id?: string;
  retry?: string;
  data: string;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event: SseEvent = { data: '' };
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'id') event.id = value;
        else if (field === 'retry') event.retry = value;
        else if (field === 'data') event.data += value;
      }
      return event;
    });
}

describe('reply format per request (stateful Streamable HTTP)', () => {
  let srv: TestServer;
  let session: string;
  let nextId = 100;

  const post = (body: object, headers: Record<string, string> = {}) =>
    postMcp(srv.url, body, session, headers, PROTOCOL);
  const call = (name: string, args: object, meta?: object) => {
    const id = nextId++;
    return {
      id,
      reply: post({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name, arguments: args, ...(meta && { _meta: meta }) },
      }),
    };
  };

  beforeAll(async () => {
    srv = await startTestServer({ MCP_SSE_RETRY_MS: '200' });
    const init = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    // initialize is streamed from the start: its priming event hands out the retry interval.
    expect(init.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await init.text()).toMatch(/^id: \S+\nretry: 200\ndata: \n\n/);
    session = init.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    // save_note tells the client (level `info`) that it created the note: an SSE reply.
    const saved = await call('save_note', { title: 'reply format', content: 'body' }).reply;
    expect(saved.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(JSON.parse(parseSse(await saved.text()).at(-1)!.data).result.structuredContent.title).toBe(
      'reply format',
    );
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('answers a call that sends nothing but its response as plain JSON', async () => {
    const { id, reply } = call('read_note', { title: 'reply format' });
    const res = await reply;
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('mcp-session-id')).toBe(session);
    expect(await res.json()).toMatchObject({ id, result: { structuredContent: { content: 'body' } } });
  });

  it('switches to a resumable SSE stream when the call sends a log message first', async () => {
    // read_note of a missing note warns the client (level `info` by default) before answering.
    const { id, reply } = call('read_note', { title: 'no such note' });
    const res = await reply;
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('mcp-session-id')).toBe(session);
    const events = parseSse(await res.text());
    expect(
      events.map((e) =>
        e.data ? (JSON.parse(e.data).method ?? `response ${JSON.parse(e.data).id}`) : 'priming',
      ),
    ).toEqual(['priming', 'notifications/message', `response ${id}`]);
    expect(events[0]).toMatchObject({ retry: '200', data: '' });
    expect(events.every((e) => typeof e.id === 'string' && e.id !== '')).toBe(true);
    expect(JSON.parse(events[1]!.data).params).toMatchObject({ level: 'warning' });
    expect(JSON.parse(events[2]!.data)).toMatchObject({ id, result: { isError: true } });

    // Resumable: from the priming event's id the session replays the message and the response.
    const resumed = await fetch(`${srv.url}/mcp`, {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': PROTOCOL,
        'last-event-id': events[0]!.id!,
      },
    });
    expect(resumed.status).toBe(200);
    const replayed = await readSseUntil(resumed.body!, `"id":${id}`);
    expect(parseSse(replayed).map((e) => e.id)).toEqual([events[1]!.id, events[2]!.id]);
  });

  it('streams from the start a call that asks for progress', async () => {
    const { id, reply } = call('read_note', { title: 'reply format' }, { progressToken: 'p' });
    const res = await reply;
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await res.text());
    expect(events[0]!.data).toBe('');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({
      id,
      result: { structuredContent: { content: 'body' } },
    });
  });

  it('gives concurrent calls of one session each their own format and their own response', async () => {
    const calls = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0
        ? { missing: true, ...call('read_note', { title: `missing ${i}` }) }
        : { missing: false, ...call('read_note', { title: 'reply format' }) },
    );
    for (const { id, missing, reply } of calls) {
      const res = await reply;
      if (missing) {
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const events = parseSse(await res.text());
        expect(events.map((e) => (e.data ? JSON.parse(e.data).id : undefined)).filter(Boolean)).toEqual([id]);
        expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id, result: { isError: true } });
      } else {
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(await res.json()).toMatchObject({ id, result: { structuredContent: { content: 'body' } } });
      }
    }
  });

  it('answers save_note in plain JSON once the session asked for warnings only (as the worker does)', async () => {
    const level = await post({
      jsonrpc: '2.0',
      id: 950,
      method: 'logging/setLevel',
      params: { level: 'warning' },
    });
    expect(level.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await level.json()).toMatchObject({ id: 950, result: {} });
    const { id, reply } = call('save_note', { title: 'reply format quiet', content: 'x' });
    const res = await reply;
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({
      id,
      result: { structuredContent: { title: 'reply format quiet' } },
    });
  });

  it('answers a batch on one SSE stream', async () => {
    const res = await post([
      { jsonrpc: '2.0', id: 901, method: 'tools/list' },
      { jsonrpc: '2.0', id: 902, method: 'resources/list' },
    ]);
    // The SDK refuses batches from 2025-06-18 on; either way the reply is not split.
    if (res.status === 200) {
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(await res.text()).toMatch(/"id":901[\s\S]*"id":902|"id":902[\s\S]*"id":901/);
    } else {
      expect(res.status).toBe(400);
    }
  });
});

describe('notifications a session cannot hear (no GET stream)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // A small event store, so that what it keeps is easy to push out.
    srv = await startTestServer({ MCP_EVENT_STORE_EVENTS: '8' });
  });
  afterAll(async () => {
    await srv.stop();
  });

  const open = () => openRawSession(srv.url, PROTOCOL);
  const getStream = (session: string, lastEventId?: string) =>
    fetch(`${srv.url}/mcp`, {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': PROTOCOL,
        ...(lastEventId && { 'last-event-id': lastEventId }),
      },
    });
  const saveFrom = async (session: string, title: string) => {
    const res = await postMcp(
      srv.url,
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'save_note', arguments: { title, content: 'x' } },
      },
      session,
      {},
      PROTOCOL,
    );
    expect(res.status).toBe(200);
    await res.text();
  };

  it("do not push a request stream's events out of its event store, and reach a client once it listens", async () => {
    const quiet = await open();
    const writer = await open();
    // A call of the quiet session answered on a resumable SSE stream (a log message first).
    const missing = await postMcp(
      srv.url,
      {
        jsonrpc: '2.0',
        id: 42,
        method: 'tools/call',
        params: { name: 'read_note', arguments: { title: 'nope' } },
      },
      quiet,
      {},
      PROTOCOL,
    );
    const events = parseSse(await missing.text());
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id: 42 });
    // Twenty new notes: twenty list_changed the quiet session could not hear, more than its store keeps.
    for (let i = 0; i < 20; i++) await saveFrom(writer, `unheard ${i}`);
    // Its stream is still resumable from the priming event: nothing pushed its events out.
    const resumed = await getStream(quiet, events[0]!.id);
    expect(resumed.status).toBe(200);
    const replayed = await readSseUntil(resumed.body!, '"id":42');
    expect(parseSse(replayed).map((e) => e.id)).toEqual([events[1]!.id, events[2]!.id]);

    // Once a client opens its GET stream, it hears of new notes there.
    const listener = await open();
    const stream = await getStream(listener);
    expect(stream.status).toBe(200);
    const heard = readSseUntil(stream.body!, 'notifications/resources/list_changed');
    await saveFrom(writer, 'heard');
    expect(await heard).toContain('notifications/resources/list_changed');
  });
});
