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

export interface StartLocalKafkaOptions {
  /** Client port; a free one when omitted. */
  port?: number;
  /** KRaft controller port; a free one when omitted. */
  controllerPort?: number;
  /** Data dir (log.dirs); a fresh one under `<home>/run/` when omitted, removed by stop(). */
  dataDir?: string;
  /** Where kafka.log and server.properties go; the run dir when omitted. */
  logDir?: string;
  /** Broker version; the one pinned in scripts/kafka/pom.xml when omitted. */
  version?: string;
  /** State folder (jar cache, run dirs); `<repo>/.kafka` when omitted. */
  home?: string;
  startTimeoutMs?: number;
  /** JVM heap flags; `-Xms256m -Xmx1g` when omitted. */
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
  brokers: string[];
  version: string;
  pid: number;
  logFile: string;
  /** SIGTERM, wait for exit (SIGKILL after a bound), remove what start created. Idempotent. */
  stop(): Promise<void>;
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

/** Starts a throwaway broker for tests; see the module header. */
export async function startLocalKafka(options: StartLocalKafkaOptions = {}): Promise<LocalKafka> {
  const home = options.home ?? DEFAULT_HOME;
  const version = options.version ?? readPinnedKafkaVersion();
  const libDir = await ensureKafkaJars({ version, home, onProgress: options.onProgress });

  const runRoot = join(home, 'run');
  await mkdir(runRoot, { recursive: true });
  await reapOrphanedRuns(runRoot);
  const runDir = await mkdtemp(join(runRoot, 'broker-'));
  await writeFile(join(runDir, 'owner.json'), JSON.stringify({ ownerPid: process.pid }));
  const dataDir = options.dataDir ?? join(runDir, 'data');
  const logDir = options.logDir ?? runDir;
  await mkdir(logDir, { recursive: true });
  // The run dir holds the data and the log unless the caller put them elsewhere; those stay.
  const cleanup = () => rm(runDir, { recursive: true, force: true });

  const portsPinned = options.port !== undefined || options.controllerPort !== undefined;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePort());
    const controllerPort = options.controllerPort ?? (await findFreePort([port]));
    try {
      const broker = await launchBroker({
        libDir,
        version,
        port,
        controllerPort,
        dataDir,
        propertiesFile: join(logDir, 'server.properties'),
        logFile: join(logDir, 'kafka.log'),
        heap: options.heap,
        detached: options.ownProcessGroup ?? false,
        startTimeoutMs: options.startTimeoutMs,
        onProgress: options.onProgress,
      });
      // A test run that dies without teardown must not leave a JVM behind.
      const killOnExit = () => broker.child.kill('SIGKILL');
      process.on('exit', killOnExit);
      let stopping: Promise<void> | undefined;
      return {
        brokers: [`${HOST}:${port}`],
        version,
        pid: broker.pid,
        logFile: broker.logFile,
        stop: () => {
          stopping ??= (async () => {
            const stopStarted = Date.now();
            const how = await stopChild(broker.child, STOP_GRACE_MS);
            options.onProgress?.(`Kafka on ${HOST}:${port} ${how} in ${seconds(Date.now() - stopStarted)}`);
            process.off('exit', killOnExit);
            await cleanup();
          })();
          return stopping;
        },
      };
    } catch (error) {
      // Free ports are only free until someone else binds them: retry that race a few times.
      const raced = error instanceof BrokerStartError && error.portInUse && !portsPinned && attempt < 3;
      if (!raced) {
        // Keep the run dir when the error points at its log (the next start reaps it).
        if (!existsSync(join(logDir, 'kafka.log'))) await cleanup();
        throw error;
      }
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    }
  }
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
  port: number;
  controllerPort: number;
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
  const logFd = openSync(o.logFile, 'w'); // one start per log: its tail is this run's
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
    throw new BrokerStartError(
      `Kafka ${o.version} did not become ready on ${HOST}:${o.port} (${ready.reason}).\n` +
        `Log: ${o.logFile}\n--- last lines ---\n${tail}`,
      /Address already in use|BindException/.test(tail),
    );
  }
  o.onProgress?.(
    `Kafka ${o.version} ready at ${HOST}:${o.port} (pid ${pid}) in ${seconds(Date.now() - started)}`,
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
  o: { port: number; controllerPort: number; dataDir: string },
): Promise<void> {
  const settings: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@${HOST}:${o.controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${o.port},CONTROLLER://${HOST}:${o.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${o.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': o.dataDir,
    ...BROKER_SETTINGS,
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
  const clusterId = randomClusterId();
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

export async function findFreePort(avoid: number[] = []): Promise<number> {
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

async function isPortFree(port: number): Promise<boolean> {
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

async function readTail(file: string, lines: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16_384);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '(no log written)';
  }
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
// CLI: one long-lived development broker in .kafka/local/

const LOCAL_DIR = join(DEFAULT_HOME, 'local');
const LOCAL_STATE = join(LOCAL_DIR, 'state.json');
const LOCAL_PROPERTIES = join(LOCAL_DIR, 'server.properties');
const LOCAL_DATA = join(LOCAL_DIR, 'data');
const LOCAL_LOG = join(LOCAL_DIR, 'kafka.log');

interface LocalState {
  pid: number;
  port: number;
  controllerPort: number;
  version: string;
  startedAt: string;
}

class CliError extends Error {}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
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
    return JSON.parse(await readFile(LOCAL_STATE, 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

/** The recorded broker when its process is still alive and still ours. */
async function runningLocalBroker(): Promise<LocalState | undefined> {
  const state = await readLocalState();
  return state && isOurBroker(state.pid, LOCAL_PROPERTIES) ? state : undefined;
}

async function cliUp(): Promise<void> {
  const port = portFromEnv('KAFKA_LOCAL_PORT', 9092);
  const controllerPort = portFromEnv('KAFKA_LOCAL_CONTROLLER_PORT', port + 1);
  const running = await runningLocalBroker();
  if (running) {
    say(`Kafka ${running.version} is already running at ${HOST}:${running.port} (pid ${running.pid}).`);
    if (running.port !== port) say(`(KAFKA_LOCAL_PORT asks for ${port}: run kafka:down first to move it.)`);
    return;
  }
  for (const [name, p] of [
    ['KAFKA_LOCAL_PORT', port],
    ['KAFKA_LOCAL_CONTROLLER_PORT', controllerPort],
  ] as const) {
    if (!(await isPortFree(p))) {
      throw new CliError(`${HOST}:${p} is already in use by another process; pick another port with ${name}`);
    }
  }

  const version = process.env.KAFKA_LOCAL_VERSION?.trim() || readPinnedKafkaVersion();
  const libDir = await ensureKafkaJars({ version, onProgress: say });
  const formattedBy = existsSync(join(LOCAL_DATA, '.formatted-by'))
    ? readFileSync(join(LOCAL_DATA, '.formatted-by'), 'utf8').trim()
    : undefined;
  if (formattedBy && compareVersions(formattedBy, version) > 0) {
    // KRaft metadata is not forward-compatible: an older broker cannot read a newer format.
    say(
      `The data in ${relative(REPO_ROOT, LOCAL_DATA)} was written by Kafka ${formattedBy}; wiping it for ${version}.`,
    );
    await rm(LOCAL_DATA, { recursive: true, force: true });
  }

  await mkdir(LOCAL_DIR, { recursive: true });
  say(`Starting Kafka ${version} at ${HOST}:${port} (controller ${controllerPort})…`);
  await rm(LOCAL_STATE, { force: true });
  const broker = await launchBroker({
    libDir,
    version,
    port,
    controllerPort,
    dataDir: LOCAL_DATA,
    propertiesFile: LOCAL_PROPERTIES,
    logFile: LOCAL_LOG,
    heap: process.env.KAFKA_LOCAL_HEAP?.trim().split(/\s+/),
    detached: true,
    onProgress: say,
    onSpawn: async (pid) => {
      const state: LocalState = { pid, port, controllerPort, version, startedAt: new Date().toISOString() };
      await writeFile(LOCAL_STATE, `${JSON.stringify(state, null, 2)}\n`);
      await writeFile(join(LOCAL_DIR, 'kafka.pid'), `${pid}\n`);
    },
  }).catch(async (error: unknown) => {
    await rm(LOCAL_STATE, { force: true });
    await rm(join(LOCAL_DIR, 'kafka.pid'), { force: true });
    throw error;
  });
  say(`Log: ${relative(process.cwd(), broker.logFile)}   Use: KAFKA_BROKERS=${HOST}:${port}`);
}

async function cliStatus(): Promise<number> {
  const state = await readLocalState();
  const running = await runningLocalBroker();
  if (!running) {
    say(
      state
        ? `Kafka is not running (stale pid ${state.pid} in ${relative(process.cwd(), LOCAL_STATE)}).`
        : 'Kafka is not running.',
    );
    return 1;
  }
  const brokers = [`${HOST}:${running.port}`];
  try {
    const cluster = await describeCluster(brokers, 5_000);
    say(
      `Kafka ${running.version} is running at ${brokers[0]} (pid ${running.pid}, since ${running.startedAt}); ` +
        `cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}.`,
    );
    say(`Log: ${relative(process.cwd(), LOCAL_LOG)}`);
    return 0;
  } catch (error) {
    say(
      `Kafka process ${running.pid} is alive but ${brokers[0]} does not answer: ${(error as Error).message}`,
    );
    say(`Log: ${relative(process.cwd(), LOCAL_LOG)}`);
    return 1;
  }
}

async function cliDown(wipe: boolean): Promise<void> {
  const running = await runningLocalBroker();
  if (running) {
    const started = Date.now();
    say(`Stopping Kafka (pid ${running.pid})…`);
    const how = await stopPid(running.pid, STOP_GRACE_MS);
    say(
      how === 'stopped'
        ? `Stopped in ${seconds(Date.now() - started)}.`
        : `Did not stop within ${seconds(STOP_GRACE_MS)} of SIGTERM: killed.`,
    );
  } else {
    say('Kafka is not running.');
  }
  await rm(LOCAL_STATE, { force: true });
  await rm(join(LOCAL_DIR, 'kafka.pid'), { force: true });
  if (wipe) {
    await rm(LOCAL_DATA, { recursive: true, force: true });
    say(`Removed ${relative(process.cwd(), LOCAL_DATA)}.`);
  }
}

const USAGE = `usage: node scripts/kafka-local.ts up|down [--wipe]|status

  up      fetch the jars once (Maven), start a single-node KRaft broker on 127.0.0.1 in the
          background and wait until it answers; says so when it already runs
  status  exit 0 when the broker runs and answers, 1 otherwise
  down    SIGTERM, wait for exit (SIGKILL after ${STOP_GRACE_MS / 1000} s); --wipe also deletes its data

env: KAFKA_LOCAL_PORT (9092), KAFKA_LOCAL_CONTROLLER_PORT (port + 1), KAFKA_LOCAL_HEAP ("-Xms256m -Xmx1g"),
     KAFKA_LOCAL_VERSION (the one pinned in scripts/kafka/pom.xml), JAVA_HOME`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      await cliUp();
      return 0;
    case 'status':
      return cliStatus();
    case 'down':
      await cliDown(rest.includes('--wipe'));
      return 0;
    default:
      console.error(USAGE);
      return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
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
