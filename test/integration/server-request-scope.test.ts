/**
 * A stateless request's server is built for the request's method (notes-server.ts): one for a
 * tools/* request carries only the tools. Over a real client and store: it answers tools/list
 * and tools/call exactly as a full server does, and it really is smaller (no prompts) — while a
 * server for any other method (or none) has everything.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerConfig } from '../../src/config.ts';
import { openNotesStore } from '../../src/notes/open.ts';
import type { NotesStore } from '../../src/notes/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMcpCore, type McpCore } from '../../src/server/runtime.ts';
import { TEST_SANDBOX_PATHS } from '../helpers/mcp-server.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

describe('the server of one stateless request', () => {
  let store: NotesStore;
  let core: McpCore;
  const clients: Client[] = [];

  beforeAll(async () => {
    const dir = makeTempDir('mcp-hybrid-scope-');
    const config = parseServerConfig({
      NOTES_DB: join(dir, 'notes.db'),
      MCP_STATELESS: 'true',
      MCP_INIT_SANDBOX_PATHS: TEST_SANDBOX_PATHS.join(','),
      PATH: process.env.PATH,
    });
    const logger = silentLogger();
    store = await openNotesStore({ notesDb: config.notesDb, databaseUrl: undefined, logger });
    core = await createMcpCore({ config, store, logger });
    await store.saveNote('scoped', 'body');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await core.close();
    await store.close();
  });

  async function connect(server: McpServer): Promise<Client> {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'scope', version: '1' });
    await client.connect(clientSide);
    clients.push(client);
    return client;
  }

  it('for tools/call and tools/list holds only the tools, and answers them as a full server', async () => {
    const full = await connect(core.serverFactory('request'));
    for (const method of ['tools/call', 'tools/list']) {
      const scoped = await connect(core.serverFactory('request', method));
      expect(await scoped.listTools()).toEqual(await full.listTools());
      const read = { name: 'read_note', arguments: { title: 'scoped' } };
      expect(await scoped.callTool(read)).toEqual(await full.callTool(read));
      const missing = { name: 'read_note', arguments: { title: 'no such note' } };
      expect(await scoped.callTool(missing)).toEqual(await full.callTool(missing));
      expect((await scoped.listPrompts()).prompts).toEqual([]);
    }
    expect((await full.listPrompts()).prompts.length).toBeGreaterThan(0);
  });

  it('for any other method holds everything', async () => {
    for (const method of ['prompts/list', 'resources/read', 'completion/complete', 'initialize', undefined]) {
      const server = await connect(core.serverFactory('request', method));
      expect((await server.listPrompts()).prompts.length).toBeGreaterThan(0);
      expect((await server.readResource({ uri: 'notes://scoped' })).contents).toHaveLength(1);
    }
  });
});
