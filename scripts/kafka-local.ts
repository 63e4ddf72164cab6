/**
 * A real single-node Apache Kafka broker (KRaft, combined broker + controller) on 127.0.0.1
 * without Docker: Maven fetches the broker's jars from Maven Central once, then
 * `java -cp '<lib>/*' kafka.Kafka server.properties` runs it. See docs/kafka-local.md.
 *
 * Two ways in:
 * - CLI for development: `node scripts/kafka-local.ts up|down|status` manages one long-lived
 *   broker in `.kafka/local/` (port KAFKA_LOCAL_PORT, default 9092), detached from the terminal.
 * - `startLocalKafka()` for tests: a throwaway broker on free ports with its own data dir under
 *   `.kafka/run/`, killed with the calling process and removed by `stop()`.
 *
 * Invariants:
 * - The pinned version lives in scripts/kafka/pom.xml only; jars are cached per version in
 *   `.kafka/lib/<version>/`, published by an atomic rename, so a half-finished download is never
 *   used and a version bump fetches again. Once cached, nothing here needs Maven or the network.
 * - A pid read from a file is only signalled after /proc confirms it is still our broker
 *   (pids get reused).
 * - A run directory whose owning process died (a crashed test run) is reaped by the next start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { type KafkaLocalArgs, parseKafkaLocalArgs, UsageError } from './kafka-local-args.ts';
import '../src/kafka/kafkajs-patches.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const KAFKA_POM = join(REPO_ROOT, 'scripts', 'kafka', 'pom.xml');
export const DEFAULT_HOME = join(REPO_ROOT, '.kafka');

const HOST = '127.0.0.1';
const DEFAULT_HEAP = ['-Xms256m', '-Xmx1g'];
const DEFAULT_START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 30_000;
const COMPLETE_MARKER = '.complete';
const FETCH_PROGRESS_INTERVAL_MS = 5_000;

/**
 * Broker settings apart from listeners and paths. Exported so a container started for tests
 * (test/helpers/kafka.ts) runs with exactly the same ones.
 */
export const BROKER_SETTINGS: Readonly<Record<string, string>> = {
  // A single node cannot host the default three replicas of the internal topics: without these
  // kafkajs loops on "The group coordinator is not available".
  'offsets.topic.replication.factor': '1',
  'offsets.topic.num.partitions': '10',
  'transaction.state.log.replication.factor': '1',
  'transaction.state.log.min.isr': '1',
  'transaction.state.log.num.partitions': '10',
  'share.coordinator.state.topic.replication.factor': '1',
  'share.coordinator.state.topic.min.isr': '1',
  'default.replication.factor': '1',
  'min.insync.replicas': '1',
  'num.partitions': '1',
  // Tests start consumers and expect assignments at once, not after the 3 s default delay.
  'group.initial.rebalance.delay.ms': '0',
  // Our code creates its topics explicitly; auto-creation stays on as in a stock broker.
  'auto.create.topics.enable': 'true',
  'delete.topic.enable': 'true',
  // group.coordinator.rebalance.protocols keeps its default: it always includes "classic",
  // the only group protocol kafkajs speaks (JoinGroup/SyncGroup/Heartbeat/LeaveGroup).
};

/** JVM heap of each node of a multi-node cluster: three of them share a 2-core dev machine. */
const CLUSTER_NODE_HEAP = ['-Xms128m', '-Xmx384m'];

/**
 * Broker settings for a cluster of `nodes`: from three nodes on, production-grade replication —
 * replication factor 3 and min.insync.replicas=2 for new topics (the worker's jobs, .dlq and
 * .results) and for the internal topics (__consumer_offsets, transactions, share state), so one
 * node can die without losing an acknowledged write or the group coordinator. Smaller thread
 * pools and cleaner buffer keep three JVMs within a small machine.
 */
export function brokerSettings(nodes: number): Record<string, string> {
  if (nodes <= 1) return { ...BROKER_SETTINGS };
  const replicas = String(Math.min(nodes, 3));
  const minIsr = nodes >= 3 ? '2' : '1';
  return {
    ...BROKER_SETTINGS,
    'offsets.topic.replication.factor': replicas,
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': minIsr,
    'share.coordinator.state.topic.replication.factor': replicas,
    'share.coordinator.state.topic.min.isr': minIsr,
    'default.replication.factor': replicas,
    'min.insync.replicas': minIsr,
    'num.network.threads': '2',
    'num.io.threads': '2',
    'num.replica.fetchers': '1',
    'background.threads': '2',
    'log.cleaner.dedupe.buffer.size': String(16 * 1024 * 1024),
  };
}

export interface StartLocalKafkaOptions {
  /**
   * Nodes (combined broker + controller) in the cluster; 1 when omitted. From 3 on, topics and
   * internal topics get replication factor 3 and min.insync.replicas=2 (brokerSettings()).
   */
  brokers?: number;
  /** Client port (single node only); a free one when omitted. */
  port?: number;
  /** KRaft controller port (single node only); a free one when omitted. */
  controllerPort?: number;
  /** Data dir (log.dirs, single node only); a fresh one under `<home>/run/` when omitted, removed by stop(). */
  dataDir?: string;
  /** Where kafka.log and server.properties go; the run dir when omitted. */
  logDir?: string;
  /** Broker version; the one pinned in scripts/kafka/pom.xml when omitted. */
  version?: string;
  /** State folder (jar cache, run dirs); `<repo>/.kafka` when omitted. */
  home?: string;
  startTimeoutMs?: number;
  /** JVM heap flags per node; `-Xms256m -Xmx1g` for one node, `-Xms128m -Xmx384m` each for more. */
  heap?: string[];
  /** Progress lines (jar fetch, start); silent when omitted. */
  onProgress?: (line: string) => void;
  /**
   * Runs the broker in a process group of its own, so a Ctrl-C meant for the caller's terminal
   * group does not stop Kafka before the caller has stopped its clients (npm run stack). It is
   * still killed when the calling process exits.
   */
  ownProcessGroup?: boolean;
}

export interface LocalKafka {
  /** Bootstrap addresses, one per node. */
  brokers: string[];
  version: string;
  /** The first node's pid and log (the only ones of a single-node broker). */
  pid: number;
  logFile: string;
  /** Each node, to kill and restart it (fault tests). */
  nodes: LocalKafkaNode[];
  /** SIGTERM, wait for exit (SIGKILL after a bound), remove what start created. Idempotent. */
  stop(): Promise<void>;
}

export interface LocalKafkaNode {
  /** Kafka's node.id (1..N), as reported in metadata (leaders, coordinators). */
  nodeId: number;
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  logFile: string;
  /** The JVM's pid while it runs; undefined after kill(). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends `signal` (SIGKILL when omitted) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again with the same ports and data, and waits until it answers. */
  start(): Promise<void>;
}

/** The Kafka version pinned in scripts/kafka/pom.xml (`<kafka.version>`). */
export function readPinnedKafkaVersion(pom = KAFKA_POM): string {
  const match = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'));
  if (!match?.[1]) throw new Error(`no <kafka.version> property in ${pom}`);
  return match[1];
}

/**
 * Returns `<home>/lib/<version>` holding the broker's runtime jars, fetching them with Maven on
 * first use. Maven writes into a private temp folder which is renamed into place when complete,
 * so concurrent first runs cannot see (or leave) a partial cache.
 */
export async function ensureKafkaJars(
  options: { version?: string; home?: string; onProgress?: (line: string) => void } = {},
): Promise<string> {
  const version = options.version ?? readPinnedKafkaVersion();
  const libRoot = join(options.home ?? DEFAULT_HOME, 'lib');
  const libDir = join(libRoot, version);
  if (existsSync(join(libDir, COMPLETE_MARKER))) return libDir;

  await mkdir(libRoot, { recursive: true });
  const partial = await mkdtemp(join(libRoot, `.${version}.partial-`));
  const started = Date.now();
  options.onProgress?.(`fetching Apache Kafka ${version} jars from Maven Central (first run only)…`);
  try {
    const args = [
      '-B',
      '-f',
      KAFKA_POM,
      `-Dkafka.version=${version}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${partial}`,
    ];
    // A first run downloads ~45 jars (~45 MB) plus Maven's own plugins: report how far it got.
    let downloaded = 0;
    const countDownload = (line: string) => {
      if (line.startsWith('Downloaded from ')) downloaded++;
    };
    const ticker = setInterval(
      () =>
        options.onProgress?.(
          `…still fetching: ${downloaded} file(s) downloaded in ${seconds(Date.now() - started)}`,
        ),
      FETCH_PROGRESS_INTERVAL_MS,
    );
    const result = await run('mvn', args, { cwd: REPO_ROOT, onLine: countDownload }).finally(() =>
      clearInterval(ticker),
    );
    if (result.code !== 0) {
      throw new Error(
        `mvn ${args.join(' ')} failed (exit ${result.code}):\n${result.output.trim().slice(-4000)}`,
      );
    }
    const jars = (await readdir(partial)).filter((f) => f.endsWith('.jar'));
    if (!jars.some((f) => f.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(`Maven finished but ${partial} holds no kafka_2.13-${version}.jar`);
    }
    await writeFile(join(partial, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
    await rm(libDir, { recursive: true, force: true }); // leftovers without the marker
    try {
      await rename(partial, libDir);
    } catch (error) {
      // Another process published the same version first: use theirs.
      if (!existsSync(join(libDir, COMPLETE_MARKER))) throw error;
    }
    options.onProgress?.(
      `fetched ${jars.length} jars into ${relative(REPO_ROOT, libDir)} in ${seconds(Date.now() - started)}`,
    );
    return libDir;
  } catch (error) {
    if (isNotFound(error)) {
      throw new Error('Maven (mvn) is not on PATH: it is needed once to fetch the Kafka jars', {
        cause: error,
      });
    }
    throw error;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/** Starts a throwaway broker (or cluster, `brokers: N`) for tests; see the module header. */
export async function startLocalKafka(options: StartLocalKafkaOptions = {}): Promise<LocalKafka> {
  const home = options.home ?? DEFAULT_HOME;
  const version = options.version ?? readPinnedKafkaVersion();
  const size = options.brokers ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 9) throw new Error(`brokers must be 1-9, got ${size}`);
  if (size > 1 && (options.port !== undefined || options.controllerPort !== undefined || options.dataDir)) {
    throw new Error('port, controllerPort and dataDir pin a single node: leave them out with brokers > 1');
  }
  const libDir = await ensureKafkaJars({ version, home, onProgress: options.onProgress });

  const runRoot = join(home, 'run');
  await mkdir(runRoot, { recursive: true });
  await reapOrphanedRuns(runRoot);
  const runDir = await mkdtemp(join(runRoot, size === 1 ? 'broker-' : `cluster${size}-`));
  await writeFile(join(runDir, 'owner.json'), JSON.stringify({ ownerPid: process.pid }));
  // The run dir holds the data and the logs unless the caller put them elsewhere; those stay.
  const cleanup = () => rm(runDir, { recursive: true, force: true });
  const nodeDir = (nodeId: number) => (size === 1 ? runDir : join(runDir, `node-${nodeId}`));
  const logDirOf = (nodeId: number) => (size === 1 && options.logDir ? options.logDir : nodeDir(nodeId));

  const portsPinned = options.port !== undefined || options.controllerPort !== undefined;
  for (let attempt = 1; ; attempt++) {
    const used: number[] = [];
    const specs: NodeSpec[] = [];
    for (let nodeId = 1; nodeId <= size; nodeId++) {
      const port = (size === 1 ? options.port : undefined) ?? (await findFreePort(used));
      used.push(port);
      const controllerPort = (size === 1 ? options.controllerPort : undefined) ?? (await findFreePort(used));
      used.push(controllerPort);
      specs.push({
        nodeId,
        port,
        controllerPort,
        dataDir: (size === 1 ? options.dataDir : undefined) ?? join(nodeDir(nodeId), 'data'),
        propertiesFile: join(logDirOf(nodeId), 'server.properties'),
        logFile: join(logDirOf(nodeId), 'kafka.log'),
      });
    }
    const cluster = new LocalCluster({
      libDir,
      version,
      specs,
      heap: options.heap ?? (size === 1 ? DEFAULT_HEAP : CLUSTER_NODE_HEAP),
      startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS * Math.min(size, 2),
      ownProcessGroup: options.ownProcessGroup ?? false,
      onProgress: options.onProgress,
    });
    try {
      await cluster.startAll();
      // A test run that dies without teardown must not leave a JVM behind.
      const killOnExit = () => cluster.killAllNow();
      process.on('exit', killOnExit);
      let stopping: Promise<void> | undefined;
      const first = cluster.nodes[0]!;
      return {
        brokers: cluster.nodes.map((n) => n.address),
        version,
        pid: first.pid ?? 0,
        logFile: first.logFile,
        nodes: cluster.nodes,
        stop: () => {
          stopping ??= (async () => {
            const stopStarted = Date.now();
            const how = await cluster.stopAll();
            options.onProgress?.(
              `Kafka on ${cluster.nodes.map((n) => n.address).join(',')} ${how} in ${seconds(Date.now() - stopStarted)}`,
            );
            process.off('exit', killOnExit);
            await cleanup();
          })();
          return stopping;
        },
      };
    } catch (error) {
      await cluster.stopAll().catch(() => undefined);
      // Free ports are only free until someone else binds them: retry that race a few times.
      const raced = error instanceof BrokerStartError && error.portInUse && !portsPinned && attempt < 3;
      if (!raced) {
        // Keep the run dir when the error points at a log (the next start reaps it).
        if (!specs.some((spec) => existsSync(spec.logFile))) await cleanup();
        throw error;
      }
      for (const spec of specs) {
        if (options.dataDir === undefined) await rm(spec.dataDir, { recursive: true, force: true });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A cluster of combined broker + controller nodes

interface NodeSpec {
  nodeId: number;
  port: number;
  controllerPort: number;
  dataDir: string;
  propertiesFile: string;
  logFile: string;
}

interface ClusterOptions {
  libDir: string;
  version: string;
  specs: NodeSpec[];
  heap: string[];
  startTimeoutMs: number;
  /** Each node in a process group of its own (StartLocalKafkaOptions.ownProcessGroup). */
  ownProcessGroup: boolean;
  onProgress?: ((line: string) => void) | undefined;
}

/**
 * N nodes sharing one cluster id and one static controller quorum. Each node can be killed and
 * started again on the same ports and data (fault tests do that), so a node keeps its spec and
 * swaps only its process.
 */
class LocalCluster {
  readonly nodes: LocalKafkaNode[];
  readonly #o: ClusterOptions;
  readonly #children = new Map<number, ChildProcess>();
  #clusterId: string | undefined;

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.nodes = o.specs.map((spec) => this.#node(spec));
  }

  async startAll(): Promise<void> {
    const started = Date.now();
    this.#clusterId = randomClusterId();
    // A quorum of controllers must be up before any node answers: start them together.
    await Promise.all(this.#o.specs.map((spec) => this.#launch(spec, false)));
    if (this.#o.specs.length > 1) {
      await waitForBrokerCount(
        this.nodes.map((n) => n.address),
        this.#o.specs.length,
        this.#o.startTimeoutMs,
      );
      this.#o.onProgress?.(
        `Kafka ${this.#o.version} cluster of ${this.#o.specs.length} ready at ` +
          `${this.nodes.map((n) => n.address).join(',')} in ${seconds(Date.now() - started)}`,
      );
    }
  }

  async stopAll(): Promise<'stopped' | 'killed'> {
    const hows = await Promise.all(
      [...this.#children.values()].map((child) => stopChild(child, STOP_GRACE_MS)),
    );
    this.#children.clear();
    return hows.includes('killed') ? 'killed' : 'stopped';
  }

  killAllNow(): void {
    for (const child of this.#children.values()) child.kill('SIGKILL');
  }

  async #launch(spec: NodeSpec, restart: boolean): Promise<void> {
    const broker = await launchBroker({
      ...spec,
      libDir: this.#o.libDir,
      version: this.#o.version,
      voters: this.#o.specs.map((s) => `${s.nodeId}@${HOST}:${s.controllerPort}`).join(','),
      settings: brokerSettings(this.#o.specs.length),
      clusterId: this.#clusterId,
      appendLog: restart,
      heap: this.#o.heap,
      detached: this.#o.ownProcessGroup,
      startTimeoutMs: this.#o.startTimeoutMs,
      onProgress: this.#o.onProgress,
    });
    this.#children.set(spec.nodeId, broker.child);
    void once(broker.child, 'exit').then(() => {
      if (this.#children.get(spec.nodeId) === broker.child) this.#children.delete(spec.nodeId);
    });
  }

  #node(spec: NodeSpec): LocalKafkaNode {
    const children = this.#children;
    return {
      nodeId: spec.nodeId,
      port: spec.port,
      address: `${HOST}:${spec.port}`,
      logFile: spec.logFile,
      get pid() {
        return children.get(spec.nodeId)?.pid;
      },
      get running() {
        return children.has(spec.nodeId);
      },
      kill: async (signal = 'SIGKILL') => {
        const child = children.get(spec.nodeId);
        if (!child) return;
        const exited = once(child, 'exit');
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
        children.delete(spec.nodeId);
      },
      start: async () => {
        if (children.has(spec.nodeId)) return;
        await this.#launch(spec, true);
      },
    };
  }
}

/** Polls until the cluster reports `count` live brokers (all registered and unfenced). */
async function waitForBrokerCount(brokers: string[], count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const cluster = await describeCluster(brokers, 2_000);
      if (cluster.brokers.length >= count && cluster.controller !== null) return;
      last = `${cluster.brokers.length} of ${count} brokers registered`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`the cluster did not reach ${count} brokers within ${seconds(timeoutMs)}: ${last}`);
}

// ---------------------------------------------------------------------------------------------
// Launching one broker process

class BrokerStartError extends Error {
  readonly portInUse: boolean;
  constructor(message: string, portInUse: boolean) {
    super(message);
    this.name = 'BrokerStartError';
    this.portInUse = portInUse;
  }
}

interface LaunchOptions {
  libDir: string;
  version: string;
  nodeId: number;
  port: number;
  controllerPort: number;
  /** controller.quorum.voters (`id@host:port,…`). */
  voters: string;
  settings: Record<string, string>;
  /** The cluster id to format with (all nodes of a cluster share one); random when omitted. */
  clusterId?: string | undefined;
  /** Append to the log (a restarted node) instead of starting it afresh. */
  appendLog?: boolean;
  dataDir: string;
  propertiesFile: string;
  logFile: string;
  heap?: string[];
  /** Own session, survives the launching process (the CLI); else dies with its process group. */
  detached: boolean;
  startTimeoutMs?: number;
  onProgress?: (line: string) => void;
  /** Called as soon as the JVM runs, before readiness (the CLI records its pid file here). */
  onSpawn?: (pid: number) => Promise<void>;
}

interface LaunchedBroker {
  child: ChildProcess;
  pid: number;
  logFile: string;
  clusterId: string;
}

async function launchBroker(o: LaunchOptions): Promise<LaunchedBroker> {
  const started = Date.now();
  for (const port of [o.port, o.controllerPort]) {
    if (!(await isPortFree(port))) {
      throw new BrokerStartError(`${HOST}:${port} is already in use by another process`, true);
    }
  }
  await writeServerProperties(o.propertiesFile, o);
  const clusterId = await formatStorage(o);

  await mkdir(dirname(o.logFile), { recursive: true });
  const logFd = openSync(o.logFile, o.appendLog ? 'a' : 'w'); // a fresh start: its tail is this run's
  let child: ChildProcess;
  try {
    child = spawn(
      javaCommand(),
      [
        ...(o.heap ?? DEFAULT_HEAP),
        ...JVM_FLAGS,
        '-cp',
        join(o.libDir, '*'),
        'kafka.Kafka',
        o.propertiesFile,
      ],
      { cwd: dirname(o.propertiesFile), detached: o.detached, stdio: ['ignore', logFd, logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  const spawned = await Promise.race([
    once(child, 'spawn').then(() => undefined),
    once(child, 'error').then(([error]) => error as Error),
  ]);
  if (spawned) throw javaNotFound(spawned);
  if (o.detached) child.unref();
  const pid = child.pid!;
  await o.onSpawn?.(pid);

  const exited = once(child, 'exit').then(([code, signal]) => `exited with ${signal ?? `code ${code}`}`);
  const timeoutMs = o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const ready = await waitUntilReady([`${HOST}:${o.port}`], clusterId, timeoutMs, exited);
  if (!ready.ok) {
    await stopChild(child, 5_000);
    const tail = await readTail(o.logFile, 40);
    // The cause is often far above the tail (a failed bind is followed by the whole shutdown).
    const cause = startFailureCause((await readLogBytes(o.logFile, LOG_SCAN_BYTES, 'start')) ?? '');
    throw new BrokerStartError(
      `Kafka ${o.version} did not become ready on ${HOST}:${o.port} (${ready.reason}).\n` +
        (cause.firstError ? `First error: ${cause.firstError}\n` : '') +
        `Log: ${o.logFile}\n--- last lines ---\n${tail}`,
      cause.portInUse,
    );
  }
  o.onProgress?.(
    `Kafka ${o.version}${o.voters.includes(',') ? ` node ${o.nodeId}` : ''} ready at ${HOST}:${o.port} (pid ${pid}) in ${seconds(Date.now() - started)}`,
  );
  return { child, pid, logFile: o.logFile, clusterId: ready.clusterId };
}

const JVM_FLAGS = [
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
  // slf4j-simple (see the pom) writes the broker's log to stderr, i.e. into kafka.log.
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
  "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
  '-Dorg.slf4j.simpleLogger.levelInBrackets=true',
];

function javaCommand(): string {
  const javaHome = process.env.JAVA_HOME;
  return javaHome ? join(javaHome, 'bin', 'java') : 'java';
}

function javaNotFound(error: Error): Error {
  return new Error(
    `cannot run ${javaCommand()} (${error.message}): Kafka needs Java 17+ on PATH or JAVA_HOME`,
    {
      cause: error,
    },
  );
}

async function writeServerProperties(
  file: string,
  o: {
    nodeId: number;
    port: number;
    controllerPort: number;
    voters: string;
    dataDir: string;
    settings: Record<string, string>;
  },
): Promise<void> {
  const settings: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': String(o.nodeId),
    'controller.quorum.voters': o.voters,
    listeners: `PLAINTEXT://${HOST}:${o.port},CONTROLLER://${HOST}:${o.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${o.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': o.dataDir,
    ...o.settings,
  };
  const body = Object.entries(settings)
    .map(([key, value]) => `${key}=${value.replaceAll('\\', '\\\\')}`)
    .join('\n');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `# Written by scripts/kafka-local.ts; rewritten on every start.\n${body}\n`);
}

/**
 * `kafka-storage format`, skipped when the data dir already carries meta.properties.
 * Returns the data dir's cluster id.
 */
async function formatStorage(o: LaunchOptions): Promise<string> {
  const metaFile = join(o.dataDir, 'meta.properties');
  if (existsSync(metaFile)) {
    const recorded = /^cluster\.id=(.+)$/m.exec(await readFile(metaFile, 'utf8'))?.[1]?.trim();
    if (recorded) return recorded;
  }
  await mkdir(o.dataDir, { recursive: true });
  const clusterId = o.clusterId ?? randomClusterId();
  const args = [
    '-Xmx256m',
    '-cp',
    join(o.libDir, '*'),
    'kafka.tools.StorageTool',
    'format',
    '--cluster-id',
    clusterId,
    '--config',
    o.propertiesFile,
    '--ignore-formatted',
  ];
  let result: { code: number | null; output: string };
  try {
    result = await run(javaCommand(), args, { cwd: dirname(o.propertiesFile) });
  } catch (error) {
    throw isNotFound(error) ? javaNotFound(error as Error) : error;
  }
  if (result.code !== 0) {
    throw new Error(`kafka.tools.StorageTool format failed (exit ${result.code}):\n${result.output.trim()}`);
  }
  await writeFile(join(o.dataDir, '.formatted-by'), `${o.version}\n`);
  return clusterId;
}

/**
 * What `kafka-storage random-uuid` prints (org.apache.kafka.common.Uuid#toString: 16 random bytes,
 * URL-safe base64 without padding, never starting with '-'), without paying for a JVM start.
 */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

type Readiness = { ok: true; clusterId: string } | { ok: false; reason: string };

/**
 * Polls a kafkajs admin `describeCluster()` until our cluster answers, the process exits, or time
 * runs out. The cluster id check keeps a stranger on the port from passing for our broker.
 */
async function waitUntilReady(
  brokers: string[],
  clusterId: string,
  timeoutMs: number,
  exited: Promise<string>,
): Promise<Readiness> {
  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
  });
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (exitReason) return { ok: false, reason: `the broker process ${exitReason}` };
    try {
      const cluster = await describeCluster(brokers, 2_000);
      if (cluster.clusterId === clusterId) return { ok: true, clusterId };
      lastError = `answered by cluster ${cluster.clusterId}, not ours (${clusterId})`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(250);
  }
  if (exitReason) return { ok: false, reason: `the broker process ${exitReason}` };
  return { ok: false, reason: `no describeCluster() answer within ${seconds(timeoutMs)}: ${lastError}` };
}

export async function describeCluster(
  brokers: string[],
  timeoutMs: number,
): Promise<{
  clusterId: string;
  controller: number | null;
  brokers: Array<{ nodeId: number; host: string; port: number }>;
}> {
  const kafka = new Kafka({
    clientId: 'kafka-local-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 1_000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Processes, ports, files

async function stopChild(child: ChildProcess, graceMs: number): Promise<'stopped' | 'killed'> {
  if (child.exitCode !== null || child.signalCode !== null) return 'stopped';
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = new AbortController();
  const outcome = await Promise.race([
    exited.then(() => 'stopped' as const),
    sleep(graceMs, 'timeout' as const, { signal: timer.signal }).catch(() => 'stopped' as const),
  ]);
  timer.abort();
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    return 'killed';
  }
  return 'stopped';
}

/** For a pid we did not spawn (the CLI's detached broker): SIGTERM, poll, SIGKILL after graceMs. */
async function stopPid(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(200);
  }
  signal(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(100);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has exited; only its parent has not reaped it yet.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** True when `pid` runs kafka.Kafka with our properties file (where /proc exists). */
function isOurBroker(pid: number, propertiesFile: string): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !existsSync('/proc/self'); // no procfs: trust the pid file
  }
  const argv = cmdline.split('\0');
  return argv.includes('kafka.Kafka') && argv.includes(propertiesFile);
}

/** Removes run dirs whose owning process is gone, killing a broker they may have left running. */
async function reapOrphanedRuns(runRoot: string): Promise<void> {
  for (const name of await readdir(runRoot).catch(() => [] as string[])) {
    const runDir = join(runRoot, name);
    let ownerPid: number;
    try {
      ownerPid = (JSON.parse(await readFile(join(runDir, 'owner.json'), 'utf8')) as { ownerPid: number })
        .ownerPid;
    } catch {
      continue; // being created right now, or not ours
    }
    if (isAlive(ownerPid)) continue;
    for (const pid of brokerPidsUsing(join(runDir, 'server.properties'))) await stopPid(pid, 5_000);
    await rm(runDir, { recursive: true, force: true });
  }
}

function brokerPidsUsing(propertiesFile: string): number[] {
  if (!existsSync('/proc/self')) return [];
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && isOurBroker(pid, propertiesFile));
}

/**
 * Where findFreePort looks: the range just below the kernel's ephemeral range (Linux:
 * /proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default). A port the kernel hands out
 * for `listen(0)` comes from the ephemeral range, which is also where every outgoing connection
 * takes its source port — so between finding such a port and the child process binding it, any
 * client socket on the machine may take it (a test suite opens thousands). Below that range only
 * another explicit listener can. Undefined where the range cannot be read or leaves no room.
 */
export function listenPortRange(
  ephemeral: { low: number; high: number } | undefined,
  span = 12_000,
): { low: number; high: number } | undefined {
  if (!ephemeral || ephemeral.low - span < 1024) return undefined;
  return { low: ephemeral.low - span, high: ephemeral.low - 1 };
}

export function readEphemeralRange(): { low: number; high: number } | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    return low && high ? { low, high } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A port on 127.0.0.1 that is free now, not in `avoid`: a random one of listenPortRange() that
 * binds, else (no such range, or 100 tries taken) one the kernel picks. Free now is all it can
 * say — whoever binds it later still races other listeners — so the launcher retries a bind
 * failure (startFailureCause), and the range keeps outgoing connections out of the race.
 */
export async function findFreePort(
  avoid: number[] = [],
  range = listenPortRange(readEphemeralRange()),
): Promise<number> {
  if (range) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
      if (!avoid.includes(port) && (await isPortFree(port))) return port;
    }
  }
  for (;;) {
    const port = await new Promise<number>((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, HOST, () => {
        const address = server.address();
        server.close(() => done(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port && !avoid.includes(port)) return port;
  }
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, HOST, () => server.close(() => done(true)));
  });
}

async function run(
  command: string,
  args: string[],
  options: { cwd: string; onLine?: (line: string) => void },
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  if (options.onLine) createInterface({ input: child.stdout }).on('line', options.onLine);
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/** How much of a failed broker's log is searched for the cause (a start writes far less). */
const LOG_SCAN_BYTES = 4 * 1024 * 1024;

/**
 * Why a broker did not start, from its log: the first ERROR line, and whether a port it was
 * given was taken meanwhile (free ports are only free until someone binds them; the caller
 * retries that race with other ports).
 */
export function startFailureCause(log: string): { firstError?: string; portInUse: boolean } {
  const firstError = log.split('\n').find((line) => /\[(ERROR|FATAL)\]|\b(ERROR|FATAL)\b/.test(line));
  return {
    ...(firstError !== undefined && { firstError: firstError.trim() }),
    portInUse: /Address already in use|BindException/.test(log),
  };
}

/** Up to `bytes` of a log, from its start or its end; undefined when there is no log. */
async function readLogBytes(file: string, bytes: number, from: 'start' | 'end'): Promise<string | undefined> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const buffer = Buffer.alloc(Math.min(size, bytes));
      await handle.read(buffer, 0, buffer.length, from === 'start' ? 0 : size - buffer.length);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

async function readTail(file: string, lines: number): Promise<string> {
  const end = await readLogBytes(file, 16_384, 'end');
  return end === undefined ? '(no log written)' : end.split('\n').slice(-lines).join('\n');
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// CLI: one long-lived development broker (or cluster) in .kafka/local/

/** The CLI's home: jar cache (lib/) and its long-lived broker (local/); KAFKA_LOCAL_HOME moves both. */
const CLI_HOME = process.env.KAFKA_LOCAL_HOME?.trim() ? resolve(process.env.KAFKA_LOCAL_HOME) : DEFAULT_HOME;
const LOCAL_DIR = join(CLI_HOME, 'local');
const LOCAL_STATE = join(LOCAL_DIR, 'state.json');

interface LocalNodeState {
  nodeId: number;
  pid: number;
  port: number;
  controllerPort: number;
  propertiesFile: string;
}

interface LocalState {
  version: string;
  startedAt: string;
  nodes: LocalNodeState[];
}

/**
 * Where node `nodeId` of an N-node CLI cluster keeps its files: a single broker uses
 * `.kafka/local/` itself (as before clusters existed), a cluster `.kafka/local/cluster-N/node-<id>/`
 * (a cluster's data cannot be reused by a cluster of another size).
 */
function localNodeDir(size: number, nodeId: number): string {
  return size === 1 ? LOCAL_DIR : join(LOCAL_DIR, `cluster-${size}`, `node-${nodeId}`);
}

class CliError extends Error {}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Progress of long steps (the first jar fetch, a node starting) goes to stderr, as it happens. */
function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CliError(`${name} must be a TCP port (1-65535), got '${raw}'`);
  }
  return port;
}

async function readLocalState(): Promise<LocalState | undefined> {
  try {
    const raw = JSON.parse(await readFile(LOCAL_STATE, 'utf8')) as LocalState & Partial<LocalNodeState>;
    // Written before clusters existed: one broker, its fields at the top level.
    if (!raw.nodes && raw.pid !== undefined) {
      const { pid, port = 9092, controllerPort = port + 1 } = raw;
      const propertiesFile = join(LOCAL_DIR, 'server.properties');
      return {
        version: raw.version,
        startedAt: raw.startedAt,
        nodes: [{ nodeId: 1, pid, port, controllerPort, propertiesFile }],
      };
    }
    return raw;
  } catch {
    return undefined;
  }
}

/** The recorded nodes whose process is still alive and still ours. */
async function runningLocalNodes(): Promise<{ state: LocalState; running: LocalNodeState[] } | undefined> {
  const state = await readLocalState();
  if (!state) return undefined;
  return { state, running: state.nodes.filter((n) => isOurBroker(n.pid, n.propertiesFile)) };
}

async function cliUp(size: number): Promise<void> {
  const port = portFromEnv('KAFKA_LOCAL_PORT', 9092);
  const controllerPort = portFromEnv('KAFKA_LOCAL_CONTROLLER_PORT', port + 1);
  const current = await runningLocalNodes();
  if (current && current.running.length > 0) {
    const addresses = current.running.map((n) => `${HOST}:${n.port}`).join(',');
    say(
      `Kafka ${current.state.version} is already running at ${addresses} (${current.running.length} of ${current.state.nodes.length} node(s)).`,
    );
    if (current.state.nodes.length !== size)
      say(`(--brokers ${size} asks for another size: run kafka:down first.)`);
    return;
  }
  // Node i (from 0) listens on port + 2i and controllerPort + 2i: 9092/9093, 9094/9095, 9096/9097.
  const specs: NodeSpec[] = Array.from({ length: size }, (_, i) => {
    const dir = localNodeDir(size, i + 1);
    return {
      nodeId: i + 1,
      port: port + 2 * i,
      controllerPort: controllerPort + 2 * i,
      dataDir: join(dir, 'data'),
      propertiesFile: join(dir, 'server.properties'),
      logFile: join(dir, 'kafka.log'),
    };
  });
  for (const spec of specs) {
    for (const p of [spec.port, spec.controllerPort]) {
      if (!(await isPortFree(p))) {
        throw new CliError(
          `${HOST}:${p} is already in use by another process; pick other ports with KAFKA_LOCAL_PORT`,
        );
      }
    }
  }

  const version = process.env.KAFKA_LOCAL_VERSION?.trim() || readPinnedKafkaVersion();
  const libDir = await ensureKafkaJars({ version, home: CLI_HOME, onProgress: progress });
  let clusterId: string | undefined;
  for (const spec of specs) {
    const marker = join(spec.dataDir, '.formatted-by');
    const formattedBy = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
    if (formattedBy && compareVersions(formattedBy, version) > 0) {
      // KRaft metadata is not forward-compatible: an older broker cannot read a newer format.
      say(
        `The data in ${relative(REPO_ROOT, spec.dataDir)} was written by Kafka ${formattedBy}; wiping it for ${version}.`,
      );
      await rm(spec.dataDir, { recursive: true, force: true });
    }
    const meta = join(spec.dataDir, 'meta.properties');
    if (existsSync(meta)) clusterId ??= /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim();
  }
  clusterId ??= randomClusterId();

  await mkdir(LOCAL_DIR, { recursive: true });
  const addresses = specs.map((spec) => `${HOST}:${spec.port}`).join(',');
  say(`Starting Kafka ${version} (${size} node(s)) at ${addresses}…`);
  await rm(LOCAL_STATE, { force: true });
  const state: LocalState = { version, startedAt: new Date().toISOString(), nodes: [] };
  const heap =
    process.env.KAFKA_LOCAL_HEAP?.trim().split(/\s+/) ?? (size === 1 ? DEFAULT_HEAP : CLUSTER_NODE_HEAP);
  const voters = specs.map((spec) => `${spec.nodeId}@${HOST}:${spec.controllerPort}`).join(',');
  try {
    await Promise.all(
      specs.map((spec) =>
        launchBroker({
          ...spec,
          libDir,
          version,
          voters,
          settings: brokerSettings(size),
          clusterId,
          heap,
          detached: true,
          onProgress: progress,
          onSpawn: async (pid) => {
            state.nodes.push({
              nodeId: spec.nodeId,
              pid,
              port: spec.port,
              controllerPort: spec.controllerPort,
              propertiesFile: spec.propertiesFile,
            });
            state.nodes.sort((x, y) => x.nodeId - y.nodeId);
            await writeFile(LOCAL_STATE, `${JSON.stringify(state, null, 2)}\n`);
          },
        }),
      ),
    );
    if (size > 1)
      await waitForBrokerCount(
        specs.map((spec) => `${HOST}:${spec.port}`),
        size,
        DEFAULT_START_TIMEOUT_MS,
      );
  } catch (error) {
    for (const node of state.nodes)
      if (isOurBroker(node.pid, node.propertiesFile)) await stopPid(node.pid, 5_000);
    await rm(LOCAL_STATE, { force: true });
    throw error;
  }
  for (const spec of specs) say(`Log of node ${spec.nodeId}: ${relative(process.cwd(), spec.logFile)}`);
  say(`Use: KAFKA_BROKERS=${addresses}`);
}

async function cliStatus(): Promise<number> {
  const current = await runningLocalNodes();
  if (!current || current.running.length === 0) {
    say(
      current
        ? `Kafka is not running (stale state in ${relative(process.cwd(), LOCAL_STATE)}).`
        : 'Kafka is not running.',
    );
    // The stack's Kafka is its own child, not this CLI's: a user checking on it lands here.
    say(
      '(This is the broker of kafka:up; `npm run stack` runs one of its own: `npx kafka-worker status` asks it.)',
    );
    return 1;
  }
  const { state, running } = current;
  const brokers = running.map((n) => `${HOST}:${n.port}`);
  for (const node of state.nodes) {
    const up = running.includes(node);
    say(`node ${node.nodeId}: ${HOST}:${node.port} ${up ? `pid ${node.pid}` : 'NOT RUNNING'}`);
  }
  try {
    const cluster = await describeCluster(brokers, 5_000);
    say(
      `Kafka ${state.version} is running (since ${state.startedAt}); cluster ${cluster.clusterId}, ` +
        `${cluster.brokers.length} of ${state.nodes.length} broker(s) registered, controller ${cluster.controller}.`,
    );
    return running.length === state.nodes.length && cluster.brokers.length === state.nodes.length ? 0 : 1;
  } catch (error) {
    say(`Kafka process(es) alive but ${brokers.join(',')} do(es) not answer: ${(error as Error).message}`);
    return 1;
  }
}

async function cliDown(wipe: boolean): Promise<void> {
  const current = await runningLocalNodes();
  if (current && current.running.length > 0) {
    const started = Date.now();
    say(`Stopping Kafka (pid ${current.running.map((n) => n.pid).join(', ')})…`);
    const hows = await Promise.all(current.running.map((n) => stopPid(n.pid, STOP_GRACE_MS)));
    say(
      hows.includes('killed')
        ? `Did not stop within ${seconds(STOP_GRACE_MS)} of SIGTERM: killed.`
        : `Stopped in ${seconds(Date.now() - started)}.`,
    );
  } else {
    say('Kafka is not running.');
  }
  await rm(LOCAL_STATE, { force: true });
  await rm(join(LOCAL_DIR, 'kafka.pid'), { force: true });
  if (wipe) {
    const dirs = [
      join(LOCAL_DIR, 'data'),
      ...readdirSync(LOCAL_DIR)
        .filter((d) => d.startsWith('cluster-'))
        .map((d) => join(LOCAL_DIR, d)),
    ];
    for (const dir of dirs) {
      await rm(dir, { recursive: true, force: true });
      say(`Removed ${relative(process.cwd(), dir)}.`);
    }
  }
}

const USAGE = `usage: node scripts/kafka-local.ts up [--brokers N] | down [--wipe] | status | --help
  (npm run kafka:up -- --brokers 3, npm run kafka:status, npm run kafka:down -- --wipe)

  up      fetch the jars once (Maven), start a KRaft broker on 127.0.0.1 in the background and wait
          until it answers; says so when it already runs. --brokers N (1-9, default 1) starts N
          combined broker+controller nodes on ports KAFKA_LOCAL_PORT + 2i; with N >= 3 topics and
          internal topics get replication factor 3 and min.insync.replicas=2
  status  exit 0 when every node runs and answers, 1 otherwise
  down    SIGTERM, wait for exit (SIGKILL after ${STOP_GRACE_MS / 1000} s); --wipe also deletes the data

env: KAFKA_LOCAL_PORT (9092), KAFKA_LOCAL_CONTROLLER_PORT (port + 1),
     KAFKA_LOCAL_HEAP ("-Xms256m -Xmx1g" for one node, "-Xms128m -Xmx384m" per node of a cluster),
     KAFKA_LOCAL_VERSION (the one pinned in scripts/kafka/pom.xml), JAVA_HOME,
     KAFKA_LOCAL_HOME (.kafka: the jar cache lib/ and this CLI's broker state and data local/)
progress (the first jar fetch, nodes starting) goes to stderr`;

async function main(argv: string[]): Promise<number> {
  let args: KafkaLocalArgs;
  try {
    args = parseKafkaLocalArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`kafka-local: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  switch (args.command) {
    case 'help':
      console.log(USAGE);
      return 0;
    case 'up':
      await cliUp(args.brokers);
      return 0;
    case 'status':
      return cliStatus();
    case 'down':
      await cliDown(args.wipe);
      return 0;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // kafkajs 2.2.4 arms setTimeout with a negative delay (its RequestQueue starts with
  // throttledUntil = -1); Node >= 23 warns about it on every run. Harmless: hide it in the CLI only.
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (
      type === 'TimeoutNegativeWarning' ||
      (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')
    )
      return;
    (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
