/**
 * The one place that reads McpServer's private state (SDK v1). The SDK keeps its registered
 * tools private; unknown-tool.ts (which tools exist) and tasks/augment.ts (a task tool's input
 * schema) both need them. Reading them here keeps the cast, and the check that they are still
 * where they were, in one spot: a future SDK that moves them fails here, at server construction.
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
