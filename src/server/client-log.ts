/**
 * Log messages to the MCP client (`notifications/message`), as opposed to our own pino logs.
 * Each session keeps the level its client asked for with `logging/setLevel` (`info` until it
 * asks); a tool's messages travel with its request (on the request's own SSE stream), so
 * they reach the client that made the call and no one else.
 *
 * A stateless request's server sends none: its client cannot set a level that outlives the
 * request, and a message would force the reply onto an SSE stream instead of plain JSON.
 *
 * What goes in a message is written for a person and names things (a note title, a command,
 * counts) — never an environment value, argument value or note content.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  type LoggingLevel,
  LoggingLevelSchema,
  type ServerNotification,
  SetLevelRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const SEVERITY = new Map<LoggingLevel, number>(LoggingLevelSchema.options.map((level, i) => [level, i]));
export const DEFAULT_CLIENT_LOG_LEVEL: LoggingLevel = 'info';

/** The level one session's client asked for; `off` (a stateless request's server) sends nothing. */
export class ClientLogLevel {
  level: LoggingLevel | 'off';

  constructor(initial: LoggingLevel | 'off' = DEFAULT_CLIENT_LOG_LEVEL) {
    this.level = initial;
  }

  enabled(level: LoggingLevel): boolean {
    if (this.level === 'off') return false;
    return (SEVERITY.get(level) ?? 0) >= (SEVERITY.get(this.level) ?? 0);
  }
}

/**
 * Answers `logging/setLevel` for this server (one session) and returns the level it keeps,
 * `initial` until the client asks for another.
 */
export function installClientLogLevel(server: McpServer, initial?: LoggingLevel | 'off'): ClientLogLevel {
  const current = new ClientLogLevel(initial);
  server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    current.level = request.params.level;
    return {};
  });
  return current;
}

export type SendNotification = (notification: ServerNotification) => Promise<void>;

/** Messages of one request, sent at or above the session's level; a failed send is dropped. */
export class ClientLog {
  readonly #level: ClientLogLevel;
  readonly #send: SendNotification;
  readonly #logger: string;

  constructor(level: ClientLogLevel, send: SendNotification, logger: string) {
    this.#level = level;
    this.#send = send;
    this.#logger = logger;
  }

  debug(message: string, details?: Record<string, unknown>): void {
    this.log('debug', message, details);
  }
  info(message: string, details?: Record<string, unknown>): void {
    this.log('info', message, details);
  }
  warning(message: string, details?: Record<string, unknown>): void {
    this.log('warning', message, details);
  }
  error(message: string, details?: Record<string, unknown>): void {
    this.log('error', message, details);
  }

  log(level: LoggingLevel, message: string, details?: Record<string, unknown>): void {
    if (!this.#level.enabled(level)) return;
    this.#send({
      method: 'notifications/message',
      params: { level, logger: this.#logger, data: details ? { message, ...details } : { message } },
    }).catch(() => {
      // The client went away; its log messages go with it.
    });
  }
}
