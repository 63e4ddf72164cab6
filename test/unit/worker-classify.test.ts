import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { classifyMcpError } from '../../src/mcp-client/classify.ts';
import { mcpEndpoints } from '../../src/mcp-client/client.ts';
import { PermanentError, ServerUnavailableError, TransientError } from '../../src/retry/errors.ts';

function fetchFailed(code: string): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('MCP error classification', () => {
  it('an unreachable server is "unavailable" (waits, spends no attempt) and drops the connection', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT']) {
      const c = classifyMcpError(fetchFailed(code));
      expect(c.error, code).toBeInstanceOf(ServerUnavailableError);
      expect(c.recycle).toBe(true);
    }
    expect(classifyMcpError(new Error('Not connected')).error).toBeInstanceOf(ServerUnavailableError);
    expect(
      classifyMcpError(new SseError(undefined, 'connect failed', undefined as never)).error,
    ).toBeInstanceOf(ServerUnavailableError);
  });

  it('a restarted server (session unknown) is unavailable and asks for an immediate reconnect', () => {
    const c = classifyMcpError(new StreamableHTTPError(404, 'Error POSTing to endpoint: session not found'));
    expect(c.error).toBeInstanceOf(ServerUnavailableError);
    expect(c.sessionLost).toBe(true);
    expect(c.recycle).toBe(true);
    const sse = classifyMcpError(new Error('Error POSTing to endpoint (HTTP 404): Session not found'));
    expect(sse.sessionLost).toBe(true);
  });

  it('rejected credentials wait for a fixed deployment instead of dead-lettering every job', () => {
    const c = classifyMcpError(new StreamableHTTPError(401, 'unauthorized'));
    expect(c.error).toBeInstanceOf(ServerUnavailableError);
    expect((c.error as ServerUnavailableError).reason).toBe('unauthorized');
  });

  it('calls that may have reached the server are transient (spend an attempt)', () => {
    const cases: Array<[unknown, string]> = [
      [new McpError(ErrorCode.RequestTimeout, 'Request timed out'), 'timeout'],
      [new McpError(ErrorCode.ConnectionClosed, 'Connection closed'), 'connection-closed'],
      [new McpError(ErrorCode.InternalError, 'boom'), 'internal-error'],
      [new StreamableHTTPError(503, 'unavailable'), 'http-status'],
      [new StreamableHTTPError(502, 'bad gateway'), 'http-status'],
      [fetchFailed('ECONNRESET'), 'connection-reset'],
      [fetchFailed('UND_ERR_SOCKET'), 'connection-reset'],
      [new Error('SSE stream disconnected: TypeError: terminated'), 'connection-reset'],
      [new Error('something odd'), 'unexpected'],
    ];
    for (const [err, reason] of cases) {
      const c = classifyMcpError(err);
      expect(c.error, reason).toBeInstanceOf(TransientError);
      expect(c.error, reason).not.toBeInstanceOf(ServerUnavailableError);
      expect((c.error as TransientError).reason).toBe(reason);
    }
  });

  it('protocol refusals are permanent', () => {
    for (const err of [
      new McpError(ErrorCode.InvalidParams, 'Tool nope not found'),
      new McpError(ErrorCode.MethodNotFound, 'no'),
      new StreamableHTTPError(413, 'too large'),
      new StreamableHTTPError(400, 'bad request'),
    ]) {
      const c = classifyMcpError(err);
      expect(c.error).toBeInstanceOf(PermanentError);
      expect((c.error as PermanentError).reason).toBe('protocol-error');
    }
  });

  it('derives both endpoints from the server URL', () => {
    for (const url of ['http://h:8080', 'http://h:8080/', 'http://h:8080/mcp', 'http://h:8080/sse']) {
      const e = mcpEndpoints(url);
      expect(e.streamable.href).toBe('http://h:8080/mcp');
      expect(e.sse.href).toBe('http://h:8080/sse');
    }
    expect(mcpEndpoints('http://h/base').streamable.href).toBe('http://h/base/mcp');
  });
});
