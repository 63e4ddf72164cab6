/**
 * stdio transport for desktop clients (Claude Desktop, MCP Inspector): one session over the
 * process's stdin/stdout. stdout carries protocol only — the logger writes to stderr.
 * Resolves when the client closes the stream.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { NotesServerFactory } from './notes-server.ts';

export async function serveStdio(
  serverFactory: NotesServerFactory,
): Promise<{ closed: Promise<void>; close(): Promise<void> }> {
  const server = serverFactory();
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  process.stdin.on('end', () => void server.close());
  await server.connect(transport);
  return { closed, close: () => server.close() };
}
