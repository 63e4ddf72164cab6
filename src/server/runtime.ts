/**
 * Wires one running MCP server from its parts: config → initializer → change hub (watching
 * the store) → server factory → HTTP app → listening socket. `close()` undoes it in reverse:
 * stop accepting, close every session, stop watching, kill any server_initialize child, then
 * let open connections drain. The store is the caller's (it opened it) and stays open.
 */
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { ServerConfig } from '../config.ts';
import type { NotesStore } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';
import { createServerMetrics, type ServerMetrics } from '../observability/server-metrics.ts';
import { type KafkaTasks, startKafkaTasks } from '../tasks/kafka-tasks.ts';
import { VERSION } from '../version.ts';
import { createHttpApp, type HttpApp } from './http.ts';
import { startIdempotencyPruning } from './idempotency.ts';
import { ServerInitializer } from './initialize/initializer.ts';
import { createSandboxRuntime, notesDbMask } from './initialize/sandbox-host.ts';
import { createNotesServerFactory, type NotesServerFactory } from './notes-server.ts';
import { ResourceChangeHub } from './notifications.ts';

export interface ServerParts {
  config: ServerConfig;
  store: NotesStore;
  logger: Logger;
  metrics?: ServerMetrics;
  /** The Kafka task path, when config.tasks is set (see startServerTasks). */
  tasks?: KafkaTasks;
}

export interface McpCore {
  serverFactory: NotesServerFactory;
  initializer: ServerInitializer;
  changes: ResourceChangeHub;
  metrics: ServerMetrics;
  /** Stops watching the store, the idempotency pruning and every server_initialize child. */
  close(): Promise<void>;
}

/** Private /tmp of each sandbox. */
const SANDBOX_TMPFS_BYTES = 64 * 1024 * 1024;

/** Starts the Kafka task path when KAFKA_BROKERS is set (async: it connects to Kafka). */
export async function startServerTasks(parts: ServerParts): Promise<KafkaTasks | undefined> {
  if (!parts.config.tasks) return undefined;
  return startKafkaTasks({
    config: parts.config.tasks,
    authToken: parts.config.authToken,
    records: parts.store.tasks,
    logger: parts.logger,
  });
}

/** The transport-free core shared by the HTTP and stdio entrypoints; resolves once note changes are watched. */
export async function createMcpCore(parts: ServerParts): Promise<McpCore> {
  const { config } = parts;
  const metrics = parts.metrics ?? createServerMetrics(new Registry());
  const initLogger = parts.logger.child({ component: 'server_initialize' });
  const sandbox = createSandboxRuntime(
    {
      mode: config.init.sandbox,
      extraPaths: config.init.sandboxPaths,
      network: config.init.network,
      memoryMb: config.init.memoryMb,
      tmpfsBytes: SANDBOX_TMPFS_BYTES,
      workdir: process.cwd(),
    },
    [
      ...(config.init.envDir ? [config.init.envDir] : []),
      ...(config.databaseUrl ? [] : notesDbMask(config.notesDb)),
      ...config.secretFiles,
    ],
  );
  if (config.init.sandbox === 'off') {
    initLogger.warn(
      "MCP_INIT_SANDBOX=off: server_initialize children run unconfined, as this server's user, " +
        'and can read what it can read (see README "Running without the sandbox")',
    );
  } else {
    sandbox.ensureAvailable().then(
      () => initLogger.debug('server_initialize sandbox (bwrap) available'),
      (err: unknown) =>
        initLogger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'server_initialize sandbox unavailable: every server_initialize call will fail (sandbox_unavailable)',
        ),
    );
  }
  const initializer = new ServerInitializer({
    allowedCommands: config.init.allowedCommands,
    envDir: config.init.envDir,
    timeoutMs: config.init.timeoutMs,
    baseEnv: config.init.baseEnv,
    logger: initLogger,
    catalog: parts.store,
    sandbox,
    maxConcurrent: config.init.maxConcurrent,
    maxListingBytes: config.init.maxListingBytes,
    secrets: [config.authToken, config.databaseUrl].filter((s): s is string => s !== undefined),
  });
  const changes = new ResourceChangeHub({ logger: parts.logger.child({ component: 'notifications' }) });
  const unwatch = await parts.store.watchNoteChanges(changes.noteChanged);
  const pruning = startIdempotencyPruning({
    store: parts.store,
    ttlMs: config.idempotencyTtlMs,
    logger: parts.logger.child({ component: 'idempotency' }),
  });
  const serverFactory = createNotesServerFactory({
    store: parts.store,
    initializer,
    changes,
    logger: parts.logger,
    metrics,
    limits: {
      maxContentBytes: parts.config.maxContentBytes,
      resourceMaxBytes: parts.config.resourceMaxBytes,
    },
    version: VERSION,
    ...(parts.tasks && { tasks: parts.tasks }),
  });
  return {
    serverFactory,
    initializer,
    changes,
    metrics,
    close: async () => {
      unwatch();
      await pruning.stop();
      await initializer.close();
      await parts.tasks?.close();
    },
  };
}

export interface RunningHttpServer {
  url: string;
  port: number;
  http: HttpApp;
  metrics: ServerMetrics;
  close(): Promise<void>;
}

export async function startMcpHttpServer(parts: ServerParts): Promise<RunningHttpServer> {
  const { config, logger } = parts;
  const tasks = parts.tasks ?? (await startServerTasks(parts));
  const core = await createMcpCore({ ...parts, ...(tasks && { tasks }) });
  const http = createHttpApp({
    serverFactory: core.serverFactory,
    store: parts.store,
    logger,
    metrics: core.metrics,
    options: {
      stateless: config.stateless,
      authToken: config.authToken,
      hostPolicy: { allowedHosts: config.allowedHosts, allowedOrigins: config.allowedOrigins },
      bodyLimit: config.bodyLimit,
      sessionIdleMs: config.sessionIdleMs,
      maxSessions: config.maxSessions,
      eventStore: config.eventStore,
    },
  });

  const listener = http.app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    listener.once('listening', resolve);
    listener.once('error', reject);
  });
  // SSE streams are long-lived; keep-alive sockets should not hold shutdown hostage.
  listener.keepAliveTimeout = 5_000;
  const { port } = listener.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const displayHost = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
  const url = `http://${displayHost}:${port}`;
  logger.info(
    { url, stateless: config.stateless, auth: Boolean(config.authToken), store: parts.store.backend },
    'MCP server listening',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
      await http.closeSessions();
      await core.close();
      listener.closeIdleConnections();
      const forced = setTimeout(() => listener.closeAllConnections(), 5_000);
      forced.unref();
      await stopped;
      clearTimeout(forced);
      logger.info('MCP server stopped');
    })();
    return closing;
  };

  return { url, port, http, metrics: core.metrics, close };
}
