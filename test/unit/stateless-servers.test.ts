/**
 * Reusing the server of a stateless tools/call (src/server/stateless-servers.ts): a server lets
 * go of its transport only with nothing in flight, then serves a new connection as a fresh one
 * would. Real SDK client and server over the SDK's in-memory transport.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { detachIdleTransport } from '../../src/server/sdk-internals.ts';
import { StatelessServers } from '../../src/server/stateless-servers.ts';
import { gate } from '../helpers/gate.ts';

function heldServer() {
  const held = gate();
  const server = new McpServer({ name: 'held', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { n: z.number() } }, async ({ n }) => ({
    content: [{ type: 'text', text: String(n) }],
  }));
  server.registerTool('hold', {}, async () => {
    held.entered();
    await held.released;
    return { content: [{ type: 'text', text: 'released' }] };
  });
  return { server, reached: held.reached, release: held.release };
}

async function connectClient(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('detachIdleTransport', () => {
  it('refuses while a request is in flight, then lets go and the server serves a new connection', async () => {
    const { server, reached, release } = heldServer();
    const first = await connectClient(server);
    const call = first.callTool({ name: 'hold', arguments: {} });
    await reached;
    expect(detachIdleTransport(server)).toBe(false);
    expect(server.isConnected()).toBe(true);
    release();
    expect(await call).toMatchObject({ content: [{ text: 'released' }] });
    await expect.poll(() => detachIdleTransport(server)).toBe(true);
    expect(server.isConnected()).toBe(false);
    expect(detachIdleTransport(server)).toBe(false);

    const second = await connectClient(server);
    expect(await second.callTool({ name: 'echo', arguments: { n: 7 } })).toMatchObject({
      content: [{ text: '7' }],
    });
  });
});

describe('StatelessServers', () => {
  it('reuses tools/call servers up to maxIdle and builds every other method its own', async () => {
    const built: McpServer[] = [];
    const pool = new StatelessServers(() => {
      const server = new McpServer({ name: `s${built.length}`, version: '1' });
      built.push(server);
      return server;
    }, 1);
    const connected = async (server: McpServer) => {
      await server.connect(InMemoryTransport.createLinkedPair()[1]);
      return server;
    };
    const a = await connected(pool.take('tools/call'));
    const b = await connected(pool.take('tools/call'));
    expect(pool.release('tools/call', a)).toBe(true);
    expect(pool.release('tools/call', b)).toBe(false); // maxIdle 1
    expect(pool.idle).toBe(1);
    expect(pool.take('tools/call')).toBe(a);
    const list = await connected(pool.take('tools/list'));
    expect(pool.release('tools/list', list)).toBe(false);
    expect(pool.take('tools/list')).not.toBe(list);
    expect(built).toHaveLength(4);
  });
});
