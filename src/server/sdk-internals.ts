/**
 * The one place that reads McpServer's private state (SDK v1). The SDK keeps its registered
 * tools and its request-handler map private; unknown-tool.ts (which tools exist, and the
 * tools/call handler it guards) and tasks/augment.ts (a task tool's input schema) need them.
 * Reading them here keeps the casts, and the checks that they are still where they were, in one
 * spot: a future SDK that moves them fails here, at server construction.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AnySchema } from '@modelcontextprotocol/sdk/server/zod-compat.js';

/** The part of a registered tool this project reads. */
export type RegisteredTools = Record<string, { inputSchema?: AnySchema }>;

/** McpServer's registry of tools, live (tools registered later appear in it). */
export function registeredTools(server: McpServer): RegisteredTools {
  const tools = (server as unknown as { _registeredTools?: RegisteredTools })._registeredTools;
  if (!tools || typeof tools !== 'object') {
    throw new Error('the SDK no longer exposes McpServer._registeredTools as expected');
  }
  return tools;
}

/** A request handler as the SDK's Protocol stores it: the raw request, before schema parsing. */
export type RawRequestHandler = (
  request: { params?: Record<string, unknown> },
  extra: unknown,
) => Promise<unknown>;

/** The low-level Server's handler map (method → handler), live: replacing an entry takes effect. */
export function requestHandlers(server: McpServer): Map<string, RawRequestHandler> {
  const handlers = (server.server as unknown as { _requestHandlers?: unknown })._requestHandlers;
  if (!(handlers instanceof Map)) {
    throw new Error('the SDK no longer exposes Server._requestHandlers as expected');
  }
  return handlers as Map<string, RawRequestHandler>;
}
