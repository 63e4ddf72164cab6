/**
 * createNotesServer: the MCP server as a pure function of its dependencies (store,
 * initializer, change hub, logger, metrics, limits). It knows nothing of HTTP or stdio;
 * transports attach to what it returns, so every transport and every test runs the same tool
 * code. This module and http.ts are the only places the SDK's server classes are touched.
 *
 * A server built for a session (stateful HTTP, SSE, stdio) joins the change hub and offers
 * resource subscriptions; one built for a single stateless request offers neither, since
 * nothing could ever reach its client after the response, and sends no client log messages
 * (see client-log.ts).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/server-metrics.ts';
import { SERVER_NAME } from '../protocol.ts';
import { enableKafkaTasks } from '../tasks/augment.ts';
import type { KafkaTasks } from '../tasks/kafka-tasks.ts';
import { installClientLogLevel } from './client-log.ts';
import { type CompletionTable, registerCompletions, resourceRef, titleCompleter } from './completion.ts';
import type { ServerInitializer } from './initialize/initializer.ts';
import { registerInitializeTool } from './initialize-tool.ts';
import { notesToolSchemas, registerNotesTools } from './notes-tools.ts';
import type { ResourceChangeHub } from './notifications.ts';
import { promptCompletions, registerPrompts } from './prompts.ts';
import { NOTE_TEMPLATE, registerResources } from './resources.ts';
import { registerSubscriptions } from './subscriptions.ts';
import { createToolRuntime } from './tool-runtime.ts';
import { rejectUnknownTools } from './unknown-tool.ts';

export interface NotesServerDeps {
  store: NotesStore;
  initializer: Pick<ServerInitializer, 'initialize'>;
  /** Where session servers join to hear note changes. */
  changes: ResourceChangeHub;
  logger: Logger;
  metrics: ServerMetrics;
  limits: { maxContentBytes: number; resourceMaxBytes: number };
  version: string;
  /** MCP Tasks over Kafka (KAFKA_BROKERS set): declares the tasks capability. */
  tasks?: Pick<KafkaTasks, 'hooks' | 'taskStore'>;
}

/** `session`: lives as long as a client connection; `request`: serves one stateless request. */
export type NotesServerMode = 'session' | 'request';
/**
 * `method`, for a `request` server: the JSON-RPC method of the one request it will answer. A
 * server for a `tools/*` request registers only the tools (and what wraps them): the resources,
 * prompts and completions it would never consult cost a stateless call a tenth of its CPU.
 */
export type NotesServerFactory = (mode?: NotesServerMode, method?: string) => McpServer;

/** Requests a server with only the tools answers exactly as a full one. */
const TOOL_METHODS: ReadonlySet<string> = new Set(['tools/call', 'tools/list']);

const INSTRUCTIONS =
  'A notes service: save_note, list_notes, read_note, search_notes and delete_note manage notes by title; ' +
  'read notes://all for every note at once, or notes://{title} for one (subscribe to either to hear of ' +
  'changes). Prompts: summarise_notes, note_to_checklist. server_initialize starts an allowed stdio MCP ' +
  'server from an mcpServers entry, catalogs its tools (servers://catalog) and stops it.';

/**
 * Returns a factory: stateless HTTP builds one server per request, the others one per session.
 * What does not depend on the session — tool schemas, the JSON Schema validator, the completion
 * table — is built here, once, so a server costs little to build (stateless mode builds one per
 * request).
 */
export function createNotesServerFactory(deps: NotesServerDeps): NotesServerFactory {
  const runtime = createToolRuntime({ store: deps.store, logger: deps.logger, metrics: deps.metrics });
  const toolSchemas = notesToolSchemas(deps.limits.maxContentBytes);
  // The SDK builds an Ajv instance (with formats) per Server unless given one: milliseconds each.
  const jsonSchemaValidator = new AjvJsonSchemaValidator();
  const completions: CompletionTable = new Map([
    [resourceRef(NOTE_TEMPLATE), { title: titleCompleter(deps.store) }],
    ...promptCompletions(deps.store),
  ]);
  return (mode = 'session', method) => {
    const toolsOnly = mode === 'request' && method !== undefined && TOOL_METHODS.has(method);
    const server = new McpServer(
      { name: SERVER_NAME, version: deps.version },
      {
        capabilities: {
          logging: {},
          // `tools` is declared below, once the tools are registered.
          resources: {},
          prompts: {},
          ...(deps.tasks && { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }),
        },
        instructions: INSTRUCTIONS,
        jsonSchemaValidator,
        ...(deps.tasks && { taskStore: deps.tasks.taskStore }),
      },
    );
    const session = runtime.forSession(installClientLogLevel(server, mode === 'request' ? 'off' : undefined));
    registerNotesTools(server, { store: deps.store, runtime: session, schemas: toolSchemas });
    registerInitializeTool(server, { initializer: deps.initializer, runtime: session });
    // Wraps the tools/call and tools/list handlers the tools installed.
    if (deps.tasks) enableKafkaTasks(server, deps.tasks.hooks);
    // In front of the (task-wrapped) tools/call handler: an unknown tool is refused first.
    rejectUnknownTools(server);
    if (!toolsOnly) {
      registerResources(server, { store: deps.store, resourceMaxBytes: deps.limits.resourceMaxBytes });
      registerPrompts(server, { store: deps.store, maxBytes: deps.limits.resourceMaxBytes });
      registerCompletions(server, completions);
    }
    // Tools and prompts are fixed; resources change with the notes.
    server.server.registerCapabilities({ tools: { listChanged: false }, prompts: { listChanged: false } });
    if (mode === 'session') registerSubscriptions(server, deps.changes);
    else server.server.registerCapabilities({ resources: { subscribe: false, listChanged: false } });
    return server;
  };
}
