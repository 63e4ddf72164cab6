/**
 * Calling the server_initialize tool in tests, through a connected MCP client or as one
 * stateless HTTP request, and reading back what came of it: the error flag, the text and the
 * listed tools (the hostile fixture reports its findings as its one tool's description).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

export interface InitOutcome {
  isError: boolean;
  text: string;
  tools: Array<{ name: string; description?: string }>;
}

interface ToolResult {
  isError?: boolean;
  content: Array<{ text: string }>;
  structuredContent?: { tools: InitOutcome['tools'] };
}

function outcomeOf(result: ToolResult): InitOutcome {
  return {
    isError: result.isError === true,
    text: result.content.map((c) => c.text).join('\n'),
    tools: result.structuredContent?.tools ?? [],
  };
}

/** The hostile fixture's report: the description of its one tool, parsed. */
export function reportOf<T>(outcome: InitOutcome): T {
  const description = outcome.tools[0]?.description;
  if (description === undefined) throw new Error(`no report in the listing: ${outcome.text}`);
  return JSON.parse(description) as T;
}

export async function initialize(
  client: Client,
  name: string,
  config: Record<string, unknown>,
): Promise<InitOutcome> {
  const result = await client.callTool(
    { name: 'server_initialize', arguments: { name, config } },
    undefined,
    {
      timeout: 120_000,
    },
  );
  return outcomeOf(result as ToolResult);
}

/** One stateless tools/call of server_initialize over plain HTTP (its SSE or JSON answer). */
export async function callStateless(
  url: string,
  authToken: string,
  name: string,
  config: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<InitOutcome> {
  const response = await fetch(`${url}/mcp`, {
    method: 'POST',
    ...(signal && { signal }),
    headers: {
      authorization: `Bearer ${authToken}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'server_initialize', arguments: { name, config } },
    }),
  });
  const body = await response.text();
  const json = body.startsWith('{')
    ? body
    : body
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice('data: '.length))
        .at(-1)!;
  return outcomeOf((JSON.parse(json) as { result: ToolResult }).result);
}
