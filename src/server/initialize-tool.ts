/**
 * The `server_initialize` tool: takes one entry of a Claude-Desktop-style `mcpServers`
 * map and hands it to the ServerInitializer (allowlist, env file, spawn, handshake,
 * catalog). Every refusal or failure comes back as a tool error naming the reason.
 *
 * While it runs, the client hears each step: `notifications/progress` (when the call carried a
 * progressToken) and `notifications/message` — info for the steps, a warning for a refusal (by
 * policy, or no free slot), an error for a server that failed or a sandbox that cannot start.
 * They name the command, never args or env values. `notifications/cancelled` aborts the call's
 * signal, which stops the child — its whole sandbox — at once.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import {
  InitializeError,
  type InitializeFailureReason,
  type InitializeStage,
  type ServerInitializer,
} from './initialize/initializer.ts';
import { mcpServerEntrySchema, serverNameSchema } from './initialize/schema.ts';
import { type ToolContext, type ToolRuntime, toolError } from './tool-runtime.ts';

export interface InitializeToolDeps {
  initializer: Pick<ServerInitializer, 'initialize'>;
  runtime: ToolRuntime;
}

/** Progress steps: allowed, spawned, handshake, listed. */
export const INITIALIZE_STEPS = 4;
/**
 * Refusals, logged as warnings: the request asked for something not allowed, or found every
 * slot taken (MCP_INIT_MAX_CONCURRENT) — no server was involved.
 */
const REFUSALS: ReadonlySet<InitializeFailureReason> = new Set(['not_allowed', 'env_file', 'busy']);

function reportStage(name: string, ctx: ToolContext): (event: InitializeStage) => void {
  return (event) => {
    switch (event.stage) {
      case 'allowed':
        ctx.clientLog.info(`Starting '${event.command}' for server '${name}'`, {
          server: name,
          command: event.command,
        });
        ctx.progress(1, INITIALIZE_STEPS, `'${event.command}' is allowed`);
        break;
      case 'spawned':
        ctx.clientLog.info(`Server '${name}' spawned; handshaking`, { server: name });
        ctx.progress(2, INITIALIZE_STEPS, 'spawned');
        break;
      case 'handshake': {
        const who = `${event.serverInfo.name} ${event.serverInfo.version}`;
        ctx.clientLog.info(`Server '${name}' is ${who} (protocol ${event.protocolVersion})`, {
          server: name,
          serverInfo: event.serverInfo,
          protocolVersion: event.protocolVersion,
        });
        ctx.progress(3, INITIALIZE_STEPS, `handshake with ${who}`);
        break;
      }
      case 'listed':
        ctx.clientLog.info(`Server '${name}' lists ${event.tools} tool(s)`, {
          server: name,
          tools: event.tools,
        });
        ctx.progress(4, INITIALIZE_STEPS, `listed ${event.tools} tool(s)`);
        break;
    }
  };
}

const inputSchema = z.object({
  name: serverNameSchema.describe('Name of the server: the key of its mcpServers entry'),
  config: mcpServerEntrySchema.describe('The mcpServers entry: {command, args?, env?, envFile?}'),
});

const outputSchema = z.object({
  name: z.string(),
  status: z.enum(['ready', 'failed']),
  protocolVersion: z.string().optional(),
  serverInfo: z.looseObject({ name: z.string(), version: z.string() }).optional(),
  capabilities: z.record(z.string(), z.unknown()).optional(),
  tools: z.array(z.object({ name: z.string(), description: z.string().optional() })),
  resources: z
    .array(z.object({ uri: z.string(), name: z.string(), description: z.string().optional() }))
    .optional(),
  prompts: z.array(z.object({ name: z.string(), description: z.string().optional() })).optional(),
  durationMs: z.number(),
});

export function registerInitializeTool(server: McpServer, deps: InitializeToolDeps): void {
  server.registerTool(
    'server_initialize',
    {
      title: 'Initialize an MCP server',
      description:
        'Start one stdio MCP server from an mcpServers entry ({command, args, env, envFile}), perform the ' +
        'MCP initialize handshake, list its tools (and resources/prompts where advertised), record it in ' +
        'the servers://catalog resource and stop it. The command must be on the server allowlist. ' +
        'When the server declares the tasks capability, call it as a task (params.task) and the job is ' +
        'queued on Kafka for the workers: it can take up to the init timeout, so a client need not hold ' +
        'the connection. It is the only task-capable tool: the notes tools finish in milliseconds.',
      inputSchema,
      outputSchema,
      annotations: { idempotentHint: true, openWorldHint: true },
    },
    deps.runtime.instrument('server_initialize', async ({ name, config }, ctx) => {
      try {
        const entry = await deps.initializer.initialize(name, config, {
          signal: ctx.signal,
          onStage: reportStage(name, ctx),
        });
        const structured = {
          name: entry.name,
          status: entry.status,
          protocolVersion: entry.protocolVersion,
          serverInfo: entry.serverInfo,
          capabilities: entry.capabilities,
          tools: entry.tools,
          resources: entry.resources,
          prompts: entry.prompts,
          durationMs: entry.durationMs,
        };
        const toolNames = entry.tools.map((t) => t.name).join(', ');
        return {
          content: [
            {
              type: 'text',
              text:
                `Server '${name}' initialized: ${entry.serverInfo?.name ?? 'unknown'} ` +
                `${entry.serverInfo?.version ?? ''} (protocol ${entry.protocolVersion}), ` +
                `${entry.tools.length} tool(s)${toolNames ? `: ${toolNames}` : ''}; took ${entry.durationMs} ms.`,
            },
          ],
          structuredContent: JSON.parse(JSON.stringify(structured)),
        };
      } catch (err) {
        if (err instanceof InitializeError) {
          const level = REFUSALS.has(err.reason) ? 'warning' : err.reason === 'aborted' ? 'notice' : 'error';
          ctx.clientLog.log(level, `Server '${name}' failed to initialize (${err.reason})`, {
            server: name,
            reason: err.reason,
          });
          return toolError(`Server '${name}' failed to initialize (${err.reason}): ${err.message}`);
        }
        throw err;
      }
    }),
  );
}
