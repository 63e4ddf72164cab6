/**
 * createNotesServer: the MCP server as a pure function of its dependencies (store,
 * initializer, logger, metrics, limits). It knows nothing of HTTP or stdio; transports
 * attach to what it returns, so every transport and every test runs the same tool code.
 * This module and http.ts are the only places the SDK's server classes are touched.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/server-metrics.ts';
import { SERVER_NAME } from '../protocol.ts';
import type { ServerInitializer } from './initialize/initializer.ts';
import { registerInitializeTool } from './initialize-tool.ts';
import { registerNotesTools } from './notes-tools.ts';
import { registerResources } from './resources.ts';
import { createToolRuntime } from './tool-runtime.ts';

export interface NotesServerDeps {
  store: NotesStore;
  initializer: Pick<ServerInitializer, 'initialize'>;
  logger: Logger;
  metrics: ServerMetrics;
  limits: { maxContentBytes: number; resourceMaxBytes: number };
  version: string;
}

export type NotesServerFactory = () => McpServer;

const INSTRUCTIONS =
  'A notes service: save_note, list_notes, read_note, search_notes and delete_note manage notes by title; ' +
  'read notes://all for every note at once. server_initialize starts an allowed stdio MCP server from an ' +
  'mcpServers entry, catalogs its tools (servers://catalog) and stops it.';

/** Returns a factory: stateless HTTP builds one server per request, the others one per session. */
export function createNotesServerFactory(deps: NotesServerDeps): NotesServerFactory {
  const runtime = createToolRuntime({ store: deps.store, logger: deps.logger, metrics: deps.metrics });
  return () => {
    const server = new McpServer(
      { name: SERVER_NAME, version: deps.version },
      { capabilities: { logging: {}, tools: {}, resources: {} }, instructions: INSTRUCTIONS },
    );
    registerNotesTools(server, { store: deps.store, runtime, maxContentBytes: deps.limits.maxContentBytes });
    registerInitializeTool(server, { initializer: deps.initializer, runtime });
    registerResources(server, { store: deps.store, resourceMaxBytes: deps.limits.resourceMaxBytes });
    return server;
  };
}
