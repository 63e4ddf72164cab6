/**
 * The worker's small HTTP surface on METRICS_PORT: `/metrics` (Prometheus text from the
 * registry passed in), `/health` (liveness: the process answers) and `/ready` (readiness:
 * the consumer is in its group AND the MCP client has a session AND outcome events and dead
 * letters are being written; 503 otherwise, with a JSON body saying which is missing and, for
 * Kafka writes, why — e.g. a partition without enough in-sync replicas).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';

export interface ReadinessProbe {
  consumerJoined(): boolean;
  mcpConnected(): boolean;
  /** Outcome events and dead letters are being written (see BatchingPublisher#health). */
  publishing?(): { ok: boolean; reason?: string; since?: string };
}

export interface WorkerHttpServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startWorkerHttpServer(options: {
  port: number;
  host: string;
  registry: Registry;
  readiness: ReadinessProbe;
  logger: Logger;
}): Promise<WorkerHttpServer> {
  const { registry, readiness } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(405, { error: 'method not allowed' });
      return;
    }
    if (path === '/health') {
      json(200, { status: 'ok' });
    } else if (path === '/ready') {
      const consumer = readiness.consumerJoined();
      const mcp = readiness.mcpConnected();
      const publish = readiness.publishing?.() ?? { ok: true };
      const ready = consumer && mcp && publish.ok;
      json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', consumer, mcp, publish });
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => json(500, { error: String(err) }),
      );
    } else {
      json(404, { error: 'not found' });
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  options.logger.info({ url }, 'metrics and health endpoints listening');
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
