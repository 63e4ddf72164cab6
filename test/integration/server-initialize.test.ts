/**
 * server_initialize's process lifecycle against real child processes, unsandboxed
 * (MCP_INIT_SANDBOX=off) so the fixtures' pid files name host pids: the fixture servers in
 * test/fixtures run under the node that runs the tests, through the allowlist entry `node`.
 * Every test checks that no child (nor grandchild) outlives the call; the pids it checks are
 * read only once the fixture has written them, so a check cannot pass for want of a pid.
 * The same attacks inside the real sandbox: server-initialize-sandbox.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/notes/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  InitializeError,
  ServerInitializer,
  type ServerInitializerOptions,
} from '../../src/server/initialize/initializer.ts';
import { createSandboxRuntime } from '../../src/server/initialize/sandbox-host.ts';
import type { McpServerEntry } from '../../src/server/initialize/schema.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const fixture = (name: string) => join(FIXTURES, name);
const PATH = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
const GRACE_MS = 500;

class MemoryCatalog {
  readonly entries = new Map<string, CatalogEntry>();
  async upsertCatalogEntry(entry: CatalogEntry): Promise<void> {
    this.entries.set(entry.name, structuredClone(entry));
  }
}

let work: string;
let envDir: string;
const initializers: ServerInitializer[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'server-init-'));
  envDir = join(work, 'env');
  await rm(envDir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(envDir));
  await writeFile(join(envDir, 'fixture.env'), 'FIXTURE_FILE_VAR=from-file\nFIXTURE_PROBE="from-file"\n');
});

afterEach(async () => {
  await Promise.all(initializers.splice(0).map((i) => i.close()));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function setup(overrides: Partial<ServerInitializerOptions> = {}) {
  const catalog = new MemoryCatalog();
  const initializer = new ServerInitializer({
    allowedCommands: ['node'],
    envDir,
    timeoutMs: 10_000,
    baseEnv: { PATH, HOME: work },
    logger: silentLogger(),
    catalog,
    killGraceMs: GRACE_MS,
    sandbox: createSandboxRuntime(
      { mode: 'off', extraPaths: [], network: 'none', memoryMb: 0, tmpfsBytes: 0 },
      [],
    ),
    ...overrides,
  });
  initializers.push(initializer);
  return { initializer, catalog };
}

/** The InitializeError `promise` rejects with (fails the test if it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<InitializeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InitializeError);
  return err as InitializeError;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Polls until `pid` is gone (ESRCH). Orphans are reaped by init, which may take a moment. */
async function expectGone(pid: number, withinMs = 5_000): Promise<void> {
  const until = Date.now() + withinMs;
  while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  expect(isAlive(pid), `process ${pid} is still alive`).toBe(false);
}

async function waitForFile(path: string, withinMs = 10_000): Promise<string> {
  const until = Date.now() + withinMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return readFile(path, 'utf8');
}

/** The pids a spawn-grandchild fixture wrote, waiting for the file; both must be real pids. */
async function pidsOf(pidFile: string): Promise<{ child: number; grandchild: number }> {
  const pids = JSON.parse(await waitForFile(pidFile)) as { child: number; grandchild: number };
  expect(pids.child).toBeGreaterThan(0);
  expect(pids.grandchild).toBeGreaterThan(0);
  return pids;
}

let pidFiles = 0;
const newPidFile = () => join(work, `pids-${++pidFiles}.json`);

describe('server_initialize: a working server', () => {
  it('handshakes, lists tools, resources and prompts, records the entry and stops the child', async () => {
    const { initializer, catalog } = setup();
    const pidFile = newPidFile();
    const entry = await initializer.initialize('Fixture_Server', {
      command: 'node',
      args: [fixture('mcp-fixture-server.ts')],
      env: { FIXTURE_PID_FILE: pidFile },
    });

    expect(entry).toMatchObject({
      name: 'Fixture_Server',
      status: 'ready',
      command: 'node',
      args: [fixture('mcp-fixture-server.ts')],
      protocolVersion: '2025-11-25',
      serverInfo: { name: 'fixture-server', version: '1.2.3' },
      resources: [{ uri: 'fixture://readme', name: 'readme', description: 'What this fixture is' }],
      prompts: [{ name: 'greet', description: 'Greets someone' }],
    });
    expect(Object.keys(entry.capabilities ?? {}).sort()).toEqual(['prompts', 'resources', 'tools']);
    expect(entry.tools.map((t) => t.name)).toEqual(['add', 'echo', 'report_env']);
    expect(entry.tools[0]).toEqual({ name: 'add', description: 'Adds two numbers' });
    expect(entry.tools[1]).toEqual({ name: 'echo' });
    expect(entry.error).toBeUndefined();
    expect(entry.durationMs).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(entry.initializedAt))).toBe(false);
    expect(catalog.entries.get('Fixture_Server')).toEqual(entry);

    expect(initializer.activeChildren).toBe(0);
    const pid = Number(await waitForFile(pidFile));
    expect(pid).toBeGreaterThan(0);
    await expectGone(pid, 0);
  });

  it('gives the child only PATH, HOME and the merged envFile + env — none of our secrets', async () => {
    const saved = { token: process.env.MCP_AUTH_TOKEN, db: process.env.DATABASE_URL };
    process.env.MCP_AUTH_TOKEN = 's3cret-token';
    process.env.DATABASE_URL = 'postgres://user:s3cret@db/notes';
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    try {
      const { initializer } = setup({ logger });
      const entry = await initializer.initialize('env-check', {
        command: 'node',
        args: [fixture('mcp-fixture-server.ts')],
        envFile: 'fixture.env',
        env: { FIXTURE_PROBE: 'from-env' },
      });
      const report = JSON.parse(entry.tools.find((t) => t.name === 'report_env')!.description!);
      expect(report).toEqual({
        names: ['FIXTURE_FILE_VAR', 'FIXTURE_PROBE', 'HOME', 'PATH'],
        probe: 'from-env',
        fileVar: 'from-file',
      });
      const log = lines.join('');
      expect(log).toContain('server_initialize succeeded');
      expect(log).toContain('env-check');
      expect(log).not.toContain('from-env');
      expect(log).not.toContain('from-file');
      expect(log).not.toContain('s3cret');
    } finally {
      if (saved.token === undefined) delete process.env.MCP_AUTH_TOKEN;
      else process.env.MCP_AUTH_TOKEN = saved.token;
      if (saved.db === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved.db;
    }
  });

  it('follows tools/list pages and lists resources and prompts only when advertised', async () => {
    const { initializer } = setup();
    const entry = await initializer.initialize('paged', {
      command: 'node',
      args: [fixture('mcp-paged-server.ts')],
    });
    expect(entry.tools.map((t) => t.name)).toEqual(['alpha', 'beta', 'gamma', 'delta', 'epsilon']);
    expect(entry.capabilities).toEqual({ tools: {} });
    expect(entry.resources).toBeUndefined();
    expect(entry.prompts).toBeUndefined();
  });

  it('stops a launcher and the server it started (npx → node)', async () => {
    const { initializer } = setup();
    const pidFile = newPidFile();
    const entry = await initializer.initialize('wrapped', {
      command: 'node',
      args: [fixture('spawn-grandchild.ts'), pidFile, 'wrapper'],
    });
    expect(entry.serverInfo?.name).toBe('fixture-server');
    const pids = await pidsOf(pidFile);
    await expectGone(pids.child);
    await expectGone(pids.grandchild);
  });

  it('runs several initializations at once', async () => {
    const { initializer, catalog } = setup();
    const names = ['one', 'two', 'three'];
    const entries = await Promise.all(
      names.map((name) =>
        initializer.initialize(name, { command: 'node', args: [fixture('mcp-paged-server.ts')] }),
      ),
    );
    expect(entries.map((e) => e.status)).toEqual(['ready', 'ready', 'ready']);
    expect([...catalog.entries.keys()].sort()).toEqual([...names].sort());
    expect(initializer.activeChildren).toBe(0);
  });
});

describe('server_initialize: refusals (nothing is spawned)', () => {
  const cases: Array<
    [string, Partial<ServerInitializerOptions>, McpServerEntry, InitializeError['reason'], RegExp]
  > = [
    [
      'a command not on the allowlist',
      {},
      { command: 'bash', args: ['-c', 'id'] },
      'not_allowed',
      /'bash' is not allowed/,
    ],
    ['a path to an allowed name', {}, { command: '/bin/node' }, 'not_allowed', /exact path/],
    ['PATH in env', {}, { command: 'node', env: { PATH: '/tmp/evil' } }, 'not_allowed', /PATH/],
    [
      'LD_PRELOAD in env',
      {},
      { command: 'node', env: { LD_PRELOAD: '/tmp/x.so' } },
      'not_allowed',
      /LD_PRELOAD/,
    ],
    [
      'an envFile with no env dir',
      { envDir: undefined },
      { command: 'node', envFile: 'fixture.env' },
      'env_file',
      /MCP_INIT_ENV_DIR/,
    ],
    [
      'an envFile outside the env dir',
      {},
      { command: 'node', envFile: '../secrets.env' },
      'env_file',
      /outside/,
    ],
    ['a missing envFile', {}, { command: 'node', envFile: 'nope.env' }, 'env_file', /does not exist/],
  ];

  it.each(cases)('refuses %s', async (_what, overrides, entry, reason, message) => {
    const { initializer, catalog } = setup(overrides);
    const err = await failureOf(initializer.initialize('refused', entry));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    expect(initializer.activeChildren).toBe(0);
    expect(catalog.entries.get('refused')).toMatchObject({
      status: 'failed',
      command: entry.command,
      tools: [],
      error: expect.stringContaining(`${reason}: `),
    });
  });
});

describe('server_initialize: failures', () => {
  it('reports a command that is not installed (ENOENT)', async () => {
    const { initializer, catalog } = setup({
      allowedCommands: ['node', 'no-such-command-xyz', '/no/such/server'],
    });
    const byName = await failureOf(initializer.initialize('missing', { command: 'no-such-command-xyz' }));
    expect(byName.reason).toBe('spawn_failed');
    expect(byName.message).toMatch(/not found/);
    const byPath = await failureOf(initializer.initialize('missing-path', { command: '/no/such/server' }));
    expect(byPath.reason).toBe('spawn_failed');
    expect(byPath.message).toMatch(/not found/);
    expect(catalog.entries.get('missing-path')?.status).toBe('failed');
    expect(initializer.activeChildren).toBe(0);
  });

  it('reports a crash with its exit code and stderr, masking the env values it echoes', async () => {
    const { initializer, catalog } = setup();
    const err = await failureOf(
      initializer.initialize('crashy', {
        command: 'node',
        args: [fixture('crash.ts')],
        env: { FIXTURE_SECRET: 'hunter2-secret' },
      }),
    );
    expect(err.reason).toBe('crashed');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('cannot connect to database at db:5432');
    expect(err.message).toContain('with password [redacted]');
    expect(err.message).not.toContain('hunter2');
    expect(catalog.entries.get('crashy')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('crashed'),
    });
  });

  it.each([
    ['garbage', /Welcome to definitely-not-mcp/],
    ['json', /hello/],
    ['exit0', /exited with code 0/],
    ['close-stdout', /handshake/],
  ])('reports a program that is not MCP (%s) without waiting for the timeout', async (mode, message) => {
    const { initializer } = setup({ timeoutMs: 20_000 });
    const started = Date.now();
    const err = await failureOf(
      initializer.initialize(`not-mcp-${mode}`, { command: 'node', args: [fixture('not-mcp.ts'), mode] }),
    );
    expect(err.reason).toBe('not_mcp');
    expect(err.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(initializer.activeChildren).toBe(0);
  });

  it('times out a silent program within timeoutMs + grace', async () => {
    const { initializer, catalog } = setup({ timeoutMs: 1_500 });
    const started = Date.now();
    const err = await failureOf(
      initializer.initialize('silent', { command: 'node', args: [fixture('not-mcp.ts'), 'silent'] }),
    );
    const elapsed = Date.now() - started;
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain('1500 ms');
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(1_500 + GRACE_MS + 1_000);
    expect(catalog.entries.get('silent')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('timeout'),
    });
  });

  // Long enough for both fixture processes to start on a loaded machine: the pids are read
  // while the call runs, so the checks below always have real pids to check.
  const TREE_TIMEOUT_MS = 6_000;

  it('kills the whole process group on timeout: child and grandchild', async () => {
    const { initializer } = setup({ timeoutMs: TREE_TIMEOUT_MS });
    const pidFile = newPidFile();
    const pending = failureOf(
      initializer.initialize('tree', {
        command: 'node',
        args: [fixture('spawn-grandchild.ts'), pidFile, 'hang'],
      }),
    );
    const pids = await pidsOf(pidFile);
    const err = await pending;
    expect(err.reason).toBe('timeout');
    await expectGone(pids.child, 0);
    await expectGone(pids.grandchild);
  });

  it('SIGKILLs a tree that ignores SIGTERM after the grace period', async () => {
    const { initializer } = setup({ timeoutMs: TREE_TIMEOUT_MS });
    const pidFile = newPidFile();
    const started = Date.now();
    const pending = failureOf(
      initializer.initialize('stubborn', {
        command: 'node',
        args: [fixture('spawn-grandchild.ts'), pidFile, 'stubborn'],
      }),
    );
    const pids = await pidsOf(pidFile);
    const err = await pending;
    expect(err.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(TREE_TIMEOUT_MS + GRACE_MS + 2_500);
    await expectGone(pids.child, 0);
    await expectGone(pids.grandchild);
  });
});

describe('server_initialize: cancellation and shutdown', () => {
  it('aborts on the caller’s signal, kills the tree and records nothing', async () => {
    const { initializer, catalog } = setup({ timeoutMs: 30_000 });
    const pidFile = newPidFile();
    const controller = new AbortController();
    const pending = initializer.initialize(
      'cancelled',
      { command: 'node', args: [fixture('spawn-grandchild.ts'), pidFile, 'hang'] },
      { signal: controller.signal },
    );
    const pids = await pidsOf(pidFile);
    expect(initializer.activeChildren).toBe(1);
    const abortedAt = Date.now();
    controller.abort();
    const err = await failureOf(pending);
    expect(err.reason).toBe('aborted');
    expect(Date.now() - abortedAt).toBeLessThan(GRACE_MS + 2_000);
    expect(initializer.activeChildren).toBe(0);
    expect(catalog.entries.has('cancelled')).toBe(false);
    await expectGone(pids.child, 0);
    await expectGone(pids.grandchild);
  });

  it('refuses at once when the signal is already aborted', async () => {
    const { initializer } = setup();
    const err = await failureOf(
      initializer.initialize(
        'pre-aborted',
        { command: 'node', args: [fixture('mcp-fixture-server.ts')] },
        { signal: AbortSignal.abort() },
      ),
    );
    expect(err.reason).toBe('aborted');
    expect(initializer.activeChildren).toBe(0);
  });

  it('close() kills in-flight children, then refuses new work', async () => {
    const { initializer, catalog } = setup({ timeoutMs: 30_000 });
    const pidFile = newPidFile();
    const pending = initializer.initialize('in-flight', {
      command: 'node',
      args: [fixture('spawn-grandchild.ts'), pidFile, 'stubborn'],
    });
    const pids = await pidsOf(pidFile);
    expect(initializer.activeChildren).toBe(1);
    const outcome = failureOf(pending);

    await initializer.close();
    expect(initializer.activeChildren).toBe(0);
    expect(isAlive(pids.child)).toBe(false);
    await expectGone(pids.grandchild);
    expect((await outcome).reason).toBe('aborted');
    expect(catalog.entries.has('in-flight')).toBe(false);

    const after = await failureOf(
      initializer.initialize('late', { command: 'node', args: [fixture('mcp-fixture-server.ts')] }),
    );
    expect(after.reason).toBe('aborted');
  });
});
