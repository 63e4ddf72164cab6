/**
 * The bare SDK baselines of bench:server, built exactly as the SDK's own examples do, with one
 * trivial tool (`greet`):
 *   node bench/sdk-server.ts stateful    jsonResponseStreamableHttp.ts: one McpServer and one
 *                                        StreamableHTTPServerTransport per session, JSON responses
 *   node bench/sdk-server.ts stateless   simpleStatelessStreamableHttp.ts: a fresh McpServer and
 *                                        transport for every request
 * Both on createMcpExpressApp (Host validation, express.json). Prints its URL as one JSON line.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Request, Response } from 'express';
import * as z from 'zod/v4';

const mode = process.argv[2];
if (mode !== 'stateful' && mode !== 'stateless') throw new Error('usage: sdk-server.ts stateful|stateless');

const getServer = () => {
  const server = new McpServer(
    { name: `bare-sdk-${mode}`, version: '1.0.0' },
    { capabilities: { logging: {} } },
  );
  server.registerTool(
    'greet',
    { description: 'A simple greeting tool', inputSchema: { name: z.string().describe('Name to greet') } },
    async ({ name }) => ({ content: [{ type: 'text', text: `Hello, ${name}!` }] }),
  );
  return server;
};

const jsonRpcError = (res: Response, status: number, code: number, message: string) =>
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

const app = createMcpExpressApp();

if (mode === 'stateful') {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  app.post('/mcp', async (req: Request, res: Response) => {
    try {
      const sessionId = req.headers['mcp-session-id'];
      const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
      if (existing) {
        await existing.handleRequest(req, res, req.body);
        return;
      }
      if (sessionId || !isInitializeRequest(req.body)) {
        jsonRpcError(res, sessionId ? 404 : 400, -32000, 'Bad Request: No valid session ID provided');
        return;
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await getServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch {
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
  });
} else {
  app.post('/mcp', async (req: Request, res: Response) => {
    const server = getServer();
    try {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
    } catch {
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
  });
}

const listener = app.listen(0, '127.0.0.1', () => {
  const { port } = listener.address() as AddressInfo;
  process.stdout.write(
    `${JSON.stringify({ msg: 'sdk server listening', mode, url: `http://127.0.0.1:${port}` })}\n`,
  );
});
process.on('SIGTERM', () => {
  listener.closeAllConnections();
  listener.close(() => process.exit(0));
});
