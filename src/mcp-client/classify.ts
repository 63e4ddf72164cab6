/**
 * Maps whatever the MCP SDK or fetch throws into the worker's error types, and says whether
 * the connection it happened on should be thrown away (`recycle`) and rebuilt.
 *
 * The rule: if the request cannot have reached a tool (refused, DNS, 401/403, session unknown
 * to a restarted server, client not connected) it is a ServerUnavailableError — the worker
 * waits without spending attempts. If the request may have reached the server (timeout, 5xx,
 * reset mid-response) it is a TransientError and spends an attempt; the idempotency key makes
 * the retry safe. Protocol-level refusals (bad params, unknown tool, body too large) are
 * PermanentErrors: sending the same request again cannot succeed.
 */
import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { errorMessage, PermanentError, ServerUnavailableError, TransientError } from '../retry/errors.ts';

export interface Classified {
  error: PermanentError | TransientError;
  /** The connection is no longer usable; drop it and connect again. */
  recycle: boolean;
  /** The server no longer knows our session (it restarted): reconnect and retry at once. */
  sessionLost: boolean;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function causeCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function fromHttpStatus(status: number, message: string): Classified {
  if (status === 404) {
    return {
      error: new ServerUnavailableError(
        'server-unavailable',
        `MCP session not found (server restarted?): ${message}`,
      ),
      recycle: true,
      sessionLost: true,
    };
  }
  if (status === 401 || status === 403) {
    return {
      error: new ServerUnavailableError(
        'unauthorized',
        `MCP server refused our credentials (HTTP ${status}); check MCP_AUTH_TOKEN`,
      ),
      recycle: true,
      sessionLost: false,
    };
  }
  if (status === 408 || status === 429 || status >= 500 || status < 0) {
    return { error: new TransientError('http-status', message), recycle: false, sessionLost: false };
  }
  return { error: new PermanentError('protocol-error', message), recycle: false, sessionLost: false };
}

export function classifyMcpError(err: unknown): Classified {
  if (err instanceof PermanentError || err instanceof TransientError) {
    return { error: err, recycle: err instanceof ServerUnavailableError, sessionLost: false };
  }
  const message = errorMessage(err);
  if (err instanceof McpError) {
    switch (err.code) {
      case ErrorCode.RequestTimeout:
        return {
          error: new TransientError('timeout', message, { cause: err }),
          recycle: false,
          sessionLost: false,
        };
      case ErrorCode.ConnectionClosed:
        return {
          error: new TransientError('connection-closed', message, { cause: err }),
          recycle: true,
          sessionLost: false,
        };
      case ErrorCode.InvalidParams:
      case ErrorCode.InvalidRequest:
      case ErrorCode.MethodNotFound:
      case ErrorCode.ParseError:
        return {
          error: new PermanentError('protocol-error', message, { cause: err }),
          recycle: false,
          sessionLost: false,
        };
      default:
        return {
          error: new TransientError('internal-error', message, { cause: err }),
          recycle: false,
          sessionLost: false,
        };
    }
  }
  if (err instanceof StreamableHTTPError) return fromHttpStatus(err.code ?? -1, message);
  if (err instanceof SseError) {
    return {
      error: new ServerUnavailableError('server-unavailable', `SSE connection failed: ${message}`, {
        cause: err,
      }),
      recycle: true,
      sessionLost: false,
    };
  }
  // The legacy SSE transport reports POST failures as plain Errors: "Error POSTing to endpoint (HTTP 404): …".
  const posted = /\(HTTP (\d{3})\)/.exec(message);
  if (posted?.[1] !== undefined) return fromHttpStatus(Number(posted[1]), message);
  if (message === 'Not connected') {
    return {
      error: new ServerUnavailableError('server-unavailable', 'MCP client is not connected'),
      recycle: true,
      sessionLost: false,
    };
  }
  const code = causeCode(err);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return {
      error: new ServerUnavailableError('server-unavailable', `MCP server unreachable (${code})`, {
        cause: err,
      }),
      recycle: true,
      sessionLost: false,
    };
  }
  if (
    (err instanceof TypeError && message.includes('fetch failed')) ||
    (err instanceof Error && err.name === 'AbortError') ||
    /SSE stream disconnected|Failed to reconnect|Maximum reconnection attempts|other side closed|socket hang up/i.test(
      message,
    ) ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code?.startsWith('UND_ERR_') === true
  ) {
    return {
      error: new TransientError(
        'connection-reset',
        `connection to MCP server lost: ${message}${code ? ` (${code})` : ''}`,
        {
          cause: err,
        },
      ),
      recycle: true,
      sessionLost: false,
    };
  }
  if (err instanceof z.ZodError || (err instanceof Error && err.name === 'ZodError')) {
    return {
      error: new PermanentError('protocol-error', `MCP server sent an unexpected result: ${message}`, {
        cause: err,
      }),
      recycle: false,
      sessionLost: false,
    };
  }
  return {
    error: new TransientError('unexpected', message, { cause: err }),
    recycle: false,
    sessionLost: false,
  };
}
