/**
 * An unknown tool is a JSON-RPC protocol error (-32602 naming the tool), as the MCP
 * specification classes it — not a tool result with `isError: true`, which is what the SDK v1
 * McpServer answers (it turns every error raised inside tools/call into a result).
 *
 * The guard sits in front of the tools/call handler McpServer installed: a known tool goes
 * straight to it (no second validation pass); an unknown one is refused before it. The SDK
 * keeps both the handler map and the registered tools private; sdk-internals.ts reads them
 * and fails at server construction — loudly, and in every test — if a future SDK moves them.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { registeredTools, wrapRequestHandler } from './sdk-internals.ts';

/** Call after every tool is registered. */
export function rejectUnknownTools(server: McpServer): void {
  const tools = registeredTools(server);
  wrapRequestHandler(server, 'tools/call', (callTool) => (request, extra) => {
    const name = request.params?.name;
    if (typeof name !== 'string' || !Object.hasOwn(tools, name)) {
      return Promise.reject(new McpError(ErrorCode.InvalidParams, `Unknown tool: ${String(name)}`));
    }
    return callTool(request, extra);
  });
}
