#!/usr/bin/env node
/**
 * mcp-server entrypoint: parse config → open store → serve over HTTP (default) or stdio;
 * on SIGTERM/SIGINT close in reverse order of start and exit 0.
 */
import '../node-version.ts'; // first: refuses an old Node before anything else loads
import { ConfigError, parseServerConfig } from '../config.ts';
import { openNotesStore } from '../notes/open.ts';
import { createLogger } from '../observability/logger.ts';
import { initTracing } from '../observability/tracing.ts';
import { parseServerArgs, type ServerArgs, UsageError } from '../server/args.ts';
import { createMcpCore, startMcpHttpServer, startServerTasks } from '../server/runtime.ts';
import { serveStdio } from '../server/stdio.ts';
import { VERSION } from '../version.ts';

const HELP = `mcp-server ${VERSION} — notes tools and server_initialize over MCP

Usage:
  mcp-server            serve Streamable HTTP (/mcp) and legacy SSE (/sse, /message) on HOST:PORT
  mcp-server --stdio    serve one client over stdin/stdout (Claude Desktop, MCP Inspector)
  mcp-server --help     show this help (-h)
  mcp-server --version  print the version

Environment (all optional):
  PORT=8080                      HTTP port
  HOST=127.0.0.1                 bind address (0.0.0.0 in containers)
  NOTES_DB=./data/notes.db       SQLite file (':memory:' for a throwaway store)
  DATABASE_URL                   PostgreSQL URL; when set, used instead of SQLite
  MCP_STATELESS=false            true: no sessions, any replica answers any request
  MCP_AUTH_TOKEN                 require 'Authorization: Bearer <token>' on /mcp, /sse, /message
  MCP_ALLOWED_HOSTS=localhost,127.0.0.1,[::1]   Host names accepted (DNS-rebinding protection; '*' = any)
  MCP_ALLOWED_ORIGINS            Origins accepted (default: any origin on an allowed host)
  MCP_SESSION_IDLE_MS=1800000    close sessions idle this long
  MCP_MAX_SESSIONS=1000          open sessions at most (503 beyond)
  MCP_EVENT_STORE_BYTES=2097152  per session: sent messages kept so a dropped stream resumes (0 = off)
  MCP_EVENT_STORE_EVENTS=256     per session: at most this many of them
  MCP_SSE_RETRY_MS=1000          the reconnect delay SSE streams advertise (retry field)
  MCP_BODY_LIMIT=4mb             largest JSON request body
  NOTES_MAX_CONTENT_BYTES=1048576   largest note content
  NOTES_RESOURCE_MAX_BYTES=1048576  content bytes in notes://all before it is cut
  MCP_AUTH_TOKEN_FILE, DATABASE_URL_FILE   read those secrets from files (Docker/Kubernetes secrets)
  MCP_INIT_ALLOWED_COMMANDS=node,npx,uv,uvx,python3   commands server_initialize may run (empty: none)
  MCP_INIT_ENV_DIR               directory envFile paths must resolve inside (unset: envFile refused)
  MCP_INIT_TIMEOUT_MS=30000      handshake + listing timeout for server_initialize
  MCP_INIT_SANDBOX=bwrap         bubblewrap sandbox for every child; 'off' runs them unconfined
  MCP_INIT_SANDBOX_PATHS         extra read-only host paths visible in the sandbox (absolute, comma-separated)
  MCP_INIT_NETWORK=none          'host': children share the server's network
  MCP_INIT_MEMORY_MB=1024        RLIMIT_DATA per child process (0: none)
  MCP_INIT_MAX_CONCURRENT=4      children at once; more wait up to the timeout, then 'busy'
  MCP_INIT_MAX_LISTING_BYTES=1048576   handshake + listing bytes per child ('listing_too_large' beyond)
  MCP_IDEMPOTENCY_TTL=7d         idempotency records older than this are pruned
  KAFKA_BROKERS                  set: MCP Tasks over Kafka (task-augmented server_initialize is queued
                                 for the workers; docs/tasks.md). Unset: no tasks capability
  KAFKA_TOPIC=mcp-jobs           jobs topic tasks are written to (outcomes read from <topic>.results)
  KAFKA_TOPIC_PARTITIONS=4, KAFKA_REPLICATION_FACTOR=-1   for topics the server creates
  MCP_TASKS_CONSUMER_GROUP=mcp-server-tasks   consumer group all replicas share for <topic>.results
  MCP_TASK_TTL=1h                task lifetime when the client asks for none
  MCP_TASK_MAX_TTL=7d            longest task lifetime granted
  MCP_TASK_POLL_INTERVAL_MS=1000 pollInterval suggested to clients
  MCP_TASK_PRUNE_INTERVAL=1m     how often expired task records are deleted
  MCP_TASKS_PAGE_SIZE=50         tasks per tasks/list page
  LOG_LEVEL=info                 fatal|error|warn|info|debug|trace|silent
  OTEL_EXPORTER_OTLP_ENDPOINT    OTLP/HTTP collector (e.g. http://collector:4318): export trace spans
  OTEL_SERVICE_NAME=mcp-server   service.name of those spans
`;

async function main(argv: string[]): Promise<number> {
  let args: ServerArgs;
  try {
    args = parseServerArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mcp-server: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (args.action === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.action === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { stdio } = args;

  let config: ReturnType<typeof parseServerConfig>;
  try {
    config = parseServerConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mcp-server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // In stdio mode stdout belongs to the protocol: logs go to stderr.
  const tracing = initTracing({ serviceName: config.otel.serviceName, endpoint: config.otel.endpoint });
  const logger = createLogger({ name: 'mcp-server', level: config.logLevel, fd: stdio ? 2 : 1 });
  const store = await openNotesStore({ notesDb: config.notesDb, databaseUrl: config.databaseUrl, logger });

  let stop: () => Promise<void>;
  let finished: Promise<void>;
  if (stdio) {
    const tasks = await startServerTasks({ config, store, logger });
    const core = await createMcpCore({ config, store, logger, ...(tasks && { tasks }) });
    const session = await serveStdio(core.serverFactory);
    logger.info({ store: store.backend }, 'MCP server serving stdio');
    stop = async () => {
      await session.close();
      await core.close();
    };
    finished = session.closed;
  } else {
    const running = await startMcpHttpServer({ config, store, logger });
    stop = running.close;
    finished = new Promise<void>(() => {});
  }

  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
  });
  const reason = await Promise.race([signalled, finished.then(() => 'stdin closed')]);
  logger.info({ reason }, 'shutting down');
  await stop();
  await store.close();
  await tracing.shutdown();
  logger.flush();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `mcp-server: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
