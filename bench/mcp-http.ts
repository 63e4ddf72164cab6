/**
 * The few Streamable HTTP client steps bench:server needs before it measures, with plain fetch:
 * open a session, call a tool once (and fail unless it succeeds), read our server's tool-error
 * count from /metrics.
 */
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
};

/** One JSON-RPC message over Streamable HTTP; the reply (JSON or the SSE stream's response), if any. */
async function post(
  url: string,
  headers: Record<string, string>,
  message: object,
): Promise<{ reply?: Record<string, unknown>; sessionId: string | null }> {
  const res = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify(message) });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`HTTP ${res.status}: ${text}`);
  const sessionId = res.headers.get('mcp-session-id');
  if (res.status === 202) return { sessionId };
  const json = res.headers.get('content-type')?.startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data: ') && l.includes('"id"'))
        .map((l) => l.slice(6))
        .pop()
    : text;
  return { reply: JSON.parse(json ?? '') as Record<string, unknown>, sessionId };
}

export async function openSession(url: string): Promise<string> {
  const { sessionId } = await post(url, MCP_HEADERS, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'bench', version: '1' },
    },
  });
  if (!sessionId) throw new Error('no Mcp-Session-Id');
  await post(
    url,
    { ...MCP_HEADERS, 'mcp-session-id': sessionId },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
  );
  return sessionId;
}

/** Calls a tool once and fails the benchmark unless it succeeds: a fast error is not a result. */
export async function callTool(
  url: string,
  sessionId: string | undefined,
  name: string,
  args: object,
): Promise<void> {
  const headers = sessionId ? { ...MCP_HEADERS, 'mcp-session-id': sessionId } : MCP_HEADERS;
  const { reply } = await post(url, headers, {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const result = reply?.result as { isError?: boolean } | undefined;
  if (!result || result.isError) throw new Error(`${name} failed: ${JSON.stringify(reply)}`);
}

export async function toolErrorCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('mcp_tool_calls_total{') && line.includes('outcome="error"'))
      n += Number(line.split(' ').pop());
  }
  return n;
}
