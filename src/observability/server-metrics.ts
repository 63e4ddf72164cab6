/**
 * Prometheus metrics of the MCP server, registered on a registry passed in (never the
 * global default), so tests and several servers in one process do not collide. The four
 * updated on every request are hot-metrics.ts's, exposed as prom-client's own.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.ts';

export interface ServerMetrics {
  registry: Registry;
  httpRequests: HotCounter<'route' | 'method' | 'status'>;
  httpDuration: HotHistogram<'route' | 'method'>;
  toolCalls: HotCounter<'tool' | 'outcome'>;
  toolDuration: HotHistogram<'tool'>;
  activeSessions: Gauge<'transport'>;
  sessionsClosed: Counter<'transport' | 'reason'>;
}

export function createServerMetrics(registry: Registry = new Registry(), withDefaults = true): ServerMetrics {
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new HotCounter({
      name: 'mcp_http_requests_total',
      help: 'HTTP requests served, by route, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    httpDuration: new HotHistogram({
      name: 'mcp_http_request_duration_seconds',
      help: 'HTTP request duration (for SSE streams: until the stream closes).',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    toolCalls: new HotCounter({
      name: 'mcp_tool_calls_total',
      help: 'Tool calls by tool and outcome (success, error, replayed, cancelled).',
      labelNames: ['tool', 'outcome'],
      registers: [registry],
    }),
    toolDuration: new HotHistogram({
      name: 'mcp_tool_duration_seconds',
      help: 'Tool execution time.',
      labelNames: ['tool'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'mcp_active_sessions',
      help: 'Open MCP sessions by transport (streamable-http, sse).',
      labelNames: ['transport'],
      registers: [registry],
    }),
    sessionsClosed: new Counter({
      name: 'mcp_sessions_closed_total',
      help: 'MCP sessions closed, by transport and reason (client, idle, shutdown).',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    }),
  };
}
