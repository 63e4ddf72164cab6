/**
 * pino logger factory. In stdio mode the MCP protocol owns stdout, so logs must go to
 * stderr (fd 2); HTTP services log JSON to stdout as container platforms expect.
 * Secrets are redacted by path wherever they could appear. Every line written while a trace is
 * active (a job, a tool call) carries `trace_id` and `span_id` (see tracing.ts).
 */
import { type Logger, pino } from 'pino';
import { traceLogFields } from './tracing.ts';

export type { Logger };

export interface LoggerOptions {
  name: string;
  level: string;
  /** 1 = stdout, 2 = stderr. */
  fd: 1 | 2;
}

export const REDACT_PATHS = [
  'authorization',
  'req.headers.authorization',
  'headers.authorization',
  'config.env',
  'env',
  'token',
  'authToken',
  'databaseUrl',
  'password',
];

const { chindingsSym } = pino.symbols;

/**
 * Whether a logger's own bindings (a child's) name `jobID`. pino keeps them serialized as
 * `,"key":value…`, so this looks for the key there: `bindings()` would JSON.parse them on every
 * line, which cost the worker about 1% of its CPU (one line per job). (A binding that is an
 * object with a `jobID` key after its first would also match; no logger here binds one.)
 */
export function bindsJobID(logger: Logger): boolean {
  const chindings = (logger as unknown as Record<symbol, unknown>)[chindingsSym];
  return typeof chindings === 'string'
    ? chindings.includes(',"jobID":')
    : logger.bindings().jobID !== undefined;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      mixin: (mergeObject, _level, logger) => traceLogFields(mergeObject, () => bindsJobID(logger)),
    },
    pino.destination({ fd: options.fd, sync: false }),
  );
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
