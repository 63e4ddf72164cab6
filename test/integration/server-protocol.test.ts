/**
 * The MCP features beyond tools, end to end over real HTTP with both official clients (v1
 * `Client` and the v2 `@modelcontextprotocol/client`): resource change notifications and
 * subscriptions (Streamable HTTP and legacy SSE, across PostgreSQL replicas), completion,
 * prompts, client logging, unknown tools as protocol errors, stateless capabilities and
 * resumable streams.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MAX_COMPLETION_LIMIT } from '../../src/notes/store.ts';
import {
  type ConnectedClient,
  connectClient,
  errorOf,
  GENERATIONS,
  type Notification,
} from '../helpers/mcp-clients.ts';
import { startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { quietWindow } from '../helpers/worker-stack.ts';

const LIST_CHANGED = 'notifications/resources/list_changed';
const noteUri = (title: string) => `notes://${encodeURIComponent(title)}`;
const save = (c: ConnectedClient, title: string, content = 'body') =>
  c.client.callTool({ name: 'save_note', arguments: { title, content } });
const countOf = (c: ConnectedClient, match: (n: Notification) => boolean) =>
  c.notifications.received.filter(match).length;
const isUpdated = (uri: string) => (n: Notification) =>
  n.method === 'notifications/resources/updated' && n.params?.uri === uri;

describe.each(GENERATIONS)('client %s', (generation) => {
  let srv: TestServer;
  const clients: ConnectedClient[] = [];
  const connect = async (transport: 'streamable' | 'sse' = 'streamable') => {
    const c = await connectClient(generation, transport, srv.url);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.client.close()));
    await srv.stop();
  });

  it('tells every session when notes are created or deleted, and subscribers when theirs change (Streamable HTTP and SSE)', async () => {
    const streamable = await connect('streamable');
    const sse = await connect('sse');
    expect(streamable.client.getServerCapabilities()?.resources).toEqual({
      subscribe: true,
      listChanged: true,
    });
    expect(sse.client.getServerCapabilities()?.resources).toEqual({ subscribe: true, listChanged: true });
    const title = `${generation} Watched note`;
    await streamable.client.subscribeResource({ uri: 'notes://all' });
    await sse.client.subscribeResource({ uri: noteUri(title) });

    await save(streamable, title, 'first');
    for (const c of [streamable, sse])
      await c.notifications.waitFor((n) => n.method === LIST_CHANGED, 'list_changed');
    await streamable.notifications.updated('notes://all');
    await sse.notifications.updated(noteUri(title));

    // An update through the other session: both subscribers hear it again.
    await save(sse, title, 'second');
    await streamable.notifications.until(
      () => countOf(streamable, isUpdated('notes://all')) >= 2,
      'a second update of notes://all',
    );
    await sse.notifications.until(() => countOf(sse, isUpdated(noteUri(title))) >= 2, 'a second note update');

    // Unsubscribed from notes://all, subscribed to another note: only that note is announced.
    // The hub sends notes://all before a note's URI, so once the note's update is here, a
    // notes://all update for the same change would have arrived already.
    const other = `${generation} Other note`;
    await streamable.client.unsubscribeResource({ uri: 'notes://all' });
    await streamable.client.subscribeResource({ uri: noteUri(other) });
    const allBefore = countOf(streamable, isUpdated('notes://all'));
    await save(sse, other);
    await streamable.notifications.updated(noteUri(other));
    expect(countOf(streamable, isUpdated('notes://all'))).toBe(allBefore);

    // Deleting is a list change for everyone and an update for the note's subscriber.
    const listChangedBefore = countOf(sse, (n) => n.method === LIST_CHANGED);
    const updatesBefore = countOf(sse, isUpdated(noteUri(title)));
    await streamable.client.callTool({ name: 'delete_note', arguments: { title } });
    await sse.notifications.until(
      () => countOf(sse, isUpdated(noteUri(title))) > updatesBefore,
      'the deleted note announced',
    );
    expect(countOf(sse, (n) => n.method === LIST_CHANGED)).toBeGreaterThan(listChangedBefore);
  });

  it.each(['streamable', 'sse'] as const)(
    'stops updates of notes://{title} after unsubscribing from it, while another note stays watched (%s)',
    async (transport) => {
      const watcher = await connect(transport);
      const writer = await connect();
      const dropped = `${generation} ${transport} dropped`;
      const kept = `${generation} ${transport} kept`;
      const updates = (title: string) => countOf(watcher, isUpdated(noteUri(title)));
      await watcher.client.subscribeResource({ uri: noteUri(dropped) });
      await watcher.client.subscribeResource({ uri: noteUri(kept) });
      await save(writer, dropped, 'first');
      await watcher.notifications.updated(noteUri(dropped));

      await watcher.client.unsubscribeResource({ uri: noteUri(dropped) });
      const droppedBefore = updates(dropped);
      await save(writer, dropped, 'second');
      await save(writer, kept, 'first');
      await watcher.notifications.updated(noteUri(kept));
      // The session still hears what it watches while the window runs; the dropped note,
      // written before either of these, never comes.
      const window = quietWindow();
      await save(writer, kept, 'second');
      await watcher.notifications.until(() => updates(kept) >= 2, `a second update of ${kept}`);
      await window;
      expect(updates(dropped)).toBe(droppedBefore);
      expect(updates(kept)).toBe(2);
    },
  );

  it('sends notes://all updates after save_note and after delete_note over the legacy SSE transport', async () => {
    const sse = await connect('sse');
    const writer = await connect();
    const title = `${generation} On the SSE list`;
    const allUpdates = () => countOf(sse, isUpdated('notes://all'));
    await sse.client.subscribeResource({ uri: 'notes://all' });

    await save(writer, title, 'saved through Streamable HTTP');
    await sse.notifications.updated('notes://all');
    const afterSave = allUpdates();
    await sse.client.callTool({ name: 'delete_note', arguments: { title } });
    await sse.notifications.until(() => allUpdates() > afterSave, 'notes://all updated after delete_note');
    // What the notification announced is there to read: the note is gone from notes://all.
    const all = (await sse.client.readResource({ uri: 'notes://all' })).contents[0]!.text;
    expect(all).not.toContain(`## ${title}`);
  });

  it('refuses subscriptions to anything but notes resources with -32602, and unsubscribing is idempotent', async () => {
    const c = await connect();
    const refused = await errorOf(c.client.subscribeResource({ uri: 'test://watched-resource' }));
    expect(refused.code).toBe(-32602);
    expect(refused.message).toContain('test://watched-resource');
    expect((await errorOf(c.client.subscribeResource({ uri: 'notes://%E0%A4%A' }))).code).toBe(-32602);
    await expect(c.client.unsubscribeResource({ uri: 'notes://never-subscribed' })).resolves.toBeDefined();
    await expect(c.client.unsubscribeResource({ uri: 'test://whatever' })).resolves.toBeDefined();
  });

  it('completes note titles for the notes://{title} template and the prompts, with total and hasMore', async () => {
    const c = await connect();
    const prefix = `${generation}-cmp`;
    for (const t of ['Alpha', 'alpine', 'Beta']) await save(c, `${prefix} ${t}`);
    for (let i = 0; i < 120; i++)
      await srv.store.saveNote(`${prefix}-bulk ${String(i).padStart(3, '0')}`, 'x');
    const template = { type: 'ref/resource' as const, uri: 'notes://{title}' };
    expect(
      await c.client.complete({ ref: template, argument: { name: 'title', value: `${prefix} AL` } }),
    ).toEqual({
      completion: { values: [`${prefix} Alpha`, `${prefix} alpine`], total: 2, hasMore: false },
    });
    const bulk = await c.client.complete({
      ref: template,
      argument: { name: 'title', value: `${prefix}-BULK` },
    });
    expect(bulk.completion.values).toHaveLength(MAX_COMPLETION_LIMIT);
    expect(bulk.completion).toMatchObject({ total: 120, hasMore: true });
    expect(
      await c.client.complete({
        ref: { type: 'ref/prompt', name: 'note_to_checklist' },
        argument: { name: 'title', value: `${prefix} b` },
      }),
    ).toEqual({ completion: { values: [`${prefix} Beta`], total: 1, hasMore: false } });
    expect(
      (
        await c.client.complete({
          ref: { type: 'ref/prompt', name: 'summarise_notes' },
          argument: { name: 'keyword', value: `${prefix} ALP` },
        })
      ).completion.values,
    ).toEqual([`${prefix} Alpha`, `${prefix} alpine`]);
    const unknownPrompt = await errorOf(
      c.client.complete({ ref: { type: 'ref/prompt', name: 'nope' }, argument: { name: 'x', value: '' } }),
    );
    expect(unknownPrompt.code).toBe(-32602);
    expect(unknownPrompt.message).toContain('nope');
    const unknownTemplate = await errorOf(
      c.client.complete({
        ref: { type: 'ref/resource', uri: 'files://{path}' },
        argument: { name: 'path', value: '' },
      }),
    );
    expect(unknownTemplate.code).toBe(-32602);
  });

  it('offers summarise_notes and note_to_checklist prompts with the notes embedded', async () => {
    const c = await connect();
    const title = `${generation} Sprint review`;
    await save(c, title, 'Ship the importer. Fix login bug. Ask design about icons.');
    await save(c, `${generation} Sprint planning`, 'Plan the sprint');
    const { prompts } = await c.client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(['note_to_checklist', 'summarise_notes']);
    for (const p of prompts) expect(p.description?.length).toBeGreaterThan(10);

    const checklist = await c.client.getPrompt({ name: 'note_to_checklist', arguments: { title } });
    expect(checklist.messages).toHaveLength(2);
    expect(checklist.messages[0]!.content).toMatchObject({
      type: 'text',
      text: expect.stringContaining('checklist'),
    });
    expect(checklist.messages[1]!.content).toEqual({
      type: 'resource',
      resource: {
        uri: noteUri(title),
        mimeType: 'text/markdown',
        text: `## ${title}\n\nShip the importer. Fix login bug. Ask design about icons.\n`,
      },
    });

    const summary = await c.client.getPrompt({
      name: 'summarise_notes',
      arguments: { keyword: `${generation} SPRINT` },
    });
    expect(summary.messages.slice(1).map((m) => (m.content.resource as { uri: string }).uri)).toEqual([
      noteUri(`${generation} Sprint planning`),
      noteUri(title),
    ]);
    const missing = await errorOf(
      c.client.getPrompt({ name: 'note_to_checklist', arguments: { title: 'Nope' } }),
    );
    expect(missing.code).toBe(-32602);
    expect(missing.message).toContain("Note 'Nope' not found.");
    expect(
      (
        await errorOf(
          c.client.getPrompt({ name: 'summarise_notes', arguments: { keyword: 'zzz-nothing-zzz' } }),
        )
      ).code,
    ).toBe(-32602);
  });

  it('sends tool log messages at or above the level each session set', async () => {
    const verbose = await connect();
    const quiet = await connect('sse');
    const title = `${generation} Logged note`;
    const messages = (c: ConnectedClient) =>
      c.notifications
        .of('notifications/message')
        .map((n) => n.params as { level: string; data: { message: string } });

    // Default level (info): a save is told, a read (debug) is not. A call's messages travel
    // before its result on the same stream, so they are all here once the call returns.
    await save(quiet, title);
    await quiet.client.callTool({ name: 'read_note', arguments: { title } });
    expect(messages(quiet)).toEqual([
      expect.objectContaining({
        level: 'info',
        logger: 'save_note',
        data: expect.objectContaining({ message: `Note '${title}' created` }),
      }),
    ]);

    await verbose.client.setLoggingLevel('debug');
    await verbose.client.callTool({ name: 'read_note', arguments: { title } });
    expect(messages(verbose)).toEqual([
      expect.objectContaining({ level: 'debug', data: { message: `Read note '${title}'`, title } }),
    ]);
    await quiet.client.callTool({ name: 'read_note', arguments: { title } });
    expect(messages(quiet)).toHaveLength(1);

    await quiet.client.setLoggingLevel('warning');
    await save(quiet, title, 'again');
    await quiet.client.callTool({ name: 'delete_note', arguments: { title: `${title} missing` } });
    expect(messages(quiet).slice(1)).toEqual([
      expect.objectContaining({
        level: 'warning',
        data: expect.objectContaining({ message: `Note '${title} missing' not found.` }),
      }),
    ]);
  });

  it('answers an unknown tool with JSON-RPC error -32602 naming it, and keeps serving', async () => {
    const c = await connect();
    const err = await errorOf(c.client.callTool({ name: 'no_such_tool', arguments: {} }));
    expect(err.code).toBe(-32602);
    expect(err.message).toContain('Unknown tool: no_such_tool');
    const bad = (await c.client.callTool({ name: 'save_note', arguments: { title: '' } })) as {
      isError?: boolean;
    };
    expect(bad.isError).toBe(true);
  });
});

describe('replicas sharing PostgreSQL', () => {
  let db: TestDatabase;
  let replicas: TestServer[];
  const clients: ConnectedClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    replicas = [
      await startTestServer({ DATABASE_URL: db.url }),
      await startTestServer({ DATABASE_URL: db.url }),
    ];
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.client.close()));
    for (const r of replicas ?? []) await r.stop();
    await db?.drop();
  });

  it('notifies sessions of one replica of changes made through another, over both transports and clients', async () => {
    const [one, two] = replicas as [TestServer, TestServer];
    const watchers = [
      await connectClient('v1', 'streamable', one.url),
      await connectClient('v2', 'sse', one.url),
      await connectClient('v2', 'streamable', two.url),
      await connectClient('v1', 'sse', two.url),
    ];
    clients.push(...watchers);
    const title = 'Replicated note';
    for (const w of watchers) await w.client.subscribeResource({ uri: noteUri(title) });
    await watchers[0]!.client.subscribeResource({ uri: 'notes://all' });

    await save(watchers[2]!, title, 'written on replica two');
    for (const w of watchers) {
      await w.notifications.waitFor((n) => n.method === LIST_CHANGED, 'list_changed');
      await w.notifications.updated(noteUri(title));
    }
    await watchers[0]!.notifications.updated('notes://all');

    for (const w of watchers) w.notifications.clear();
    await watchers[1]!.client.callTool({ name: 'delete_note', arguments: { title } });
    for (const w of watchers) {
      await w.notifications.waitFor((n) => n.method === LIST_CHANGED, 'list_changed after delete');
      await w.notifications.updated(noteUri(title));
    }
  });
});

describe('stateless Streamable HTTP', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ MCP_STATELESS: 'true' });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it.each(GENERATIONS)(
    'offers completion, prompts and logging but no subscriptions (%s client)',
    async (generation) => {
      const c = await connectClient(generation, 'streamable', srv.url);
      try {
        expect(c.client.getServerCapabilities()).toMatchObject({
          resources: { subscribe: false, listChanged: false },
          completions: {},
          prompts: {},
          logging: {},
        });
        await save(c, `${generation} stateless`);
        const done = await c.client.complete({
          ref: { type: 'ref/resource', uri: 'notes://{title}' },
          argument: { name: 'title', value: `${generation} STATE` },
        });
        expect(done.completion.values).toEqual([`${generation} stateless`]);
        // No client log messages: a stateless client cannot set a level that outlives its request.
        expect(c.notifications.of('notifications/message')).toHaveLength(0);
        expect((await errorOf(c.client.callTool({ name: 'nope', arguments: {} }))).code).toBe(-32602);
      } finally {
        await c.client.close();
      }
    },
  );

  const callRaw = (id: number, params: object) =>
    fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }),
    });

  it('answers a call as plain JSON, and on an SSE stream when it asks for progress', async () => {
    const plain = await callRaw(8, {
      name: 'save_note',
      arguments: { title: 'stateless json', content: 'x' },
    });
    expect(plain.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await plain.json()).toMatchObject({
      id: 8,
      result: { structuredContent: { title: 'stateless json' } },
    });

    const streamed = await callRaw(9, {
      name: 'read_note',
      arguments: { title: 'stateless json' },
      _meta: { progressToken: 'p1' },
    });
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await streamed.text()).toContain('"id":9');
  });

  it('puts the unknown-tool error on the wire as a JSON-RPC error object, not a result', async () => {
    const res = await callRaw(7, { name: 'nope', arguments: {} });
    const message = await res.json();
    expect(message).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32602, message: expect.stringContaining('Unknown tool: nope') },
    });
  });
});

describe('resumable streams', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ MCP_SSE_RETRY_MS: '200' });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('marks SSE events with ids and a retry field', async () => {
    const res = await fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    const text = await res.text();
    expect(text).toMatch(/^id: \S+\nretry: 200\ndata: \n\n/);
    expect(text).toMatch(/event: message\nid: \S+\ndata: \{"result"/);
  });

  it.each(GENERATIONS)(
    'delivers what was sent while the %s client was disconnected once it resumes with Last-Event-ID',
    async (generation) => {
      const target = new URL(srv.url);
      const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
      const watcher = await connectClient(generation, 'streamable', proxy.url);
      const writer = await connectClient(generation, 'streamable', srv.url);
      try {
        const title = `${generation} written while away`;
        await watcher.client.subscribeResource({ uri: noteUri(title) });
        // The SDK's GET stream has no priming event: it becomes resumable with the first event
        // the client receives on it (before that, a reconnect starts afresh).
        await save(writer, `${title} (warm-up)`);
        await watcher.notifications.waitFor((n) => n.method === LIST_CHANGED, 'the first list_changed');
        proxy.hold();
        await save(writer, title);
        // The hub told every session in one pass; the writer hearing it means the watcher's
        // notifications are in its session's event store, waiting.
        await writer.notifications.until(
          () => writer.notifications.of(LIST_CHANGED).length >= 2,
          'list_changed at the writer',
        );
        expect(watcher.notifications.of(LIST_CHANGED)).toHaveLength(1);
        proxy.release();
        await watcher.notifications.updated(noteUri(title));
        await watcher.notifications.until(
          () => watcher.notifications.of(LIST_CHANGED).length >= 2,
          'list_changed replayed',
        );
        expect(proxy.sent()).toMatch(/last-event-id: \S+/i);
      } finally {
        await writer.client.close();
        await watcher.client.close().catch(() => {});
        await proxy.close();
      }
    },
  );
});
