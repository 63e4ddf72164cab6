/**
 * server_initialize against the real server and the real sandbox (bubblewrap): each attack a
 * hostile mcpServers entry was seen to make, and the legitimate servers that must still work.
 *
 * The hostile fixture (test/fixtures/hostile-server.ts) reports what it managed from inside
 * the sandbox in its listing. Processes are followed on the host by a unique token in their
 * argv (a sandbox's pids are its own), and every "is gone" check first sees the process
 * alive, so none can pass for want of something to check.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GONE_WITHIN_MS, processesWith, waitForProcesses, waitUntilGone } from '../helpers/host-processes.ts';
import {
  connectStreamable,
  startTestServer,
  TEST_SANDBOX_PATHS,
  type TestServer,
  waitFor,
} from '../helpers/mcp-server.ts';
import { REPO, SERVER_ENTRY, type Spawned, spawnEntry } from '../helpers/processes.ts';
import { callStateless as callStatelessAs, initialize } from '../helpers/server-initialize.ts';
import { holdsForQuietWindow } from '../helpers/worker-stack.ts';

const FIXTURES = join(REPO, 'test/fixtures');
const NODE_BIN = dirname(realpathSync(process.execPath));
const SECRET = `s3cret-${process.pid}-${Date.now()}`;
const AUTH_TOKEN = `token-${SECRET}`;

let work: string;
let tokens = 0;
const newToken = () => `sandbox-test-${process.pid}-${++tokens}`;
const servers: TestServer[] = [];
const spawned: Spawned[] = [];

beforeAll(() => {
  // The server's own environment carries a secret the child must not find.
  process.env.MCP_HYBRID_TEST_SECRET = SECRET;
  work = mkdtempSync(join(tmpdir(), 'sandbox-test-'));
  for (const dir of ['data', 'env', 'secrets', 'gates']) mkdirSync(join(work, dir));
  writeFileSync(join(work, 'env', 'own.env'), 'OWN_VAR=own-value\n');
  writeFileSync(join(work, 'env', 'other.env'), 'OTHER_SECRET=other-value\n');
  writeFileSync(join(work, 'env', 'hooks.env'), 'BASH_ENV=/tmp/x.sh\n');
  writeFileSync(join(work, 'secrets', 'token'), `${AUTH_TOKEN}\n`);
  // Reachable by the unprivileged users the sandbox and the non-root server run as.
  for (const dir of [work, join(work, 'env'), join(work, 'secrets'), join(work, 'gates')])
    chmodSync(dir, 0o755);
  chmodSync(join(work, 'data'), 0o777);
  for (const file of ['env/own.env', 'env/other.env', 'env/hooks.env', 'secrets/token']) {
    chmodSync(join(work, file), 0o644);
  }
});

afterEach(async () => {
  for (const s of spawned.splice(0)) s.child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

afterAll(() => {
  delete process.env.MCP_HYBRID_TEST_SECRET;
  rmSync(work, { recursive: true, force: true });
});

/** What the sandbox may see: the test default (sources, fixtures, modules, node) and `work`. */
function sandboxPaths(): string {
  return [...TEST_SANDBOX_PATHS, work].join(',');
}

function serverEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NOTES_DB: join(work, 'data', `notes-${++tokens}.db`),
    MCP_AUTH_TOKEN_FILE: join(work, 'secrets', 'token'),
    MCP_INIT_ALLOWED_COMMANDS: 'node,python3',
    MCP_INIT_ENV_DIR: join(work, 'env'),
    MCP_INIT_SANDBOX_PATHS: sandboxPaths(),
    MCP_INIT_TIMEOUT_MS: '60000',
    PATH: `${NODE_BIN}:/usr/bin:/bin`,
    ...overrides,
  };
}

async function startServer(overrides: Record<string, string> = {}) {
  const server = await startTestServer(serverEnv(overrides));
  servers.push(server);
  const { client } = await connectStreamable(server.url, { Authorization: `Bearer ${AUTH_TOKEN}` });
  return { server, client };
}

const callStateless = (url: string, name: string, config: Record<string, unknown>, signal?: AbortSignal) =>
  callStatelessAs(url, AUTH_TOKEN, name, config, signal);

const hostile = (...args: string[]) => ({
  command: 'node',
  args: [join(FIXTURES, 'hostile-server.ts'), ...args],
});

/**
 * Waits until a `hang`/`setsid` fixture's sandbox is fully up: bwrap, the lifeline (the
 * namespace's PID 1), the fixture and the grandchild it started all carry the token. (Killing
 * the server while bwrap is still setting up has tests of its own, below.)
 */
async function waitForSandboxedTree(token: string): Promise<void> {
  await waitForProcesses(token, 4);
}

describe('server_initialize in the sandbox: what a hostile entry achieves', () => {
  it('reads no secret, no notes database, env file, secret file or working-directory file; writes only its /tmp; no network', async () => {
    const { server, client } = await startServer();
    const port = Number(new URL(server.url).port);
    const notesDb = join(work, 'data');
    const spec = {
      read: [
        join(notesDb, readdirSync(notesDb).find((f) => f.endsWith('.db'))!),
        join(work, 'env', 'other.env'),
        join(work, 'secrets', 'token'),
        join(REPO, 'package-lock.json'),
        '/etc/shadow',
        // The server (this process) by its host pid: a pid the sandbox's /proc does not have.
        `/proc/${process.pid}/environ`,
        '/proc/1/environ',
      ],
      write: [
        join(work, 'gates', 'written'),
        join(REPO, 'src', 'written.ts'),
        '/usr/written',
        '/etc/written',
      ],
      // The variable's name, so the secret value itself never travels in the request.
      secret: 'MCP_HYBRID_TEST_SECRET',
      port,
    };
    const outcome = await initialize(client, 'hostile-probe', {
      ...hostile('probe', JSON.stringify(spec)),
      envFile: 'own.env',
    });
    expect(outcome.isError, outcome.text).toBe(false);
    const report = JSON.parse(outcome.tools[0]!.description!) as {
      uid: number;
      pids: string[];
      reads: Record<string, string>;
      writes: Record<string, string>;
      network: string;
      tmp: string;
      secretSeen: boolean;
    };
    expect(report.uid).toBe(65534);
    for (const path of spec.read.slice(0, 6)) expect(report.reads[path], path).not.toBe('READABLE');
    // /proc/1 is the sandbox's own init: readable or not, it carries none of our environment.
    expect(report.secretSeen).toBe(false);
    for (const path of spec.write) expect(report.writes[path], path).not.toBe('WRITTEN');
    expect(report.tmp).toBe('ok');
    expect(report.network).not.toBe('CONNECTED');
    // Only the sandbox's own processes are visible: the lifeline (PID 1) and the fixture.
    expect(report.pids.length).toBeLessThanOrEqual(3);
    expect(() => readFileSync(join(work, 'gates', 'written'))).toThrow();

    const catalog = await client.readResource({ uri: 'servers://catalog' });
    const text = JSON.stringify(catalog);
    expect(text).toContain('hostile-probe');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(AUTH_TOKEN);
    expect(text).not.toContain('other-value');
  });

  it('refuses loader and interpreter hooks in env and in an envFile', async () => {
    const { client } = await startServer();
    const viaEnv = await initialize(client, 'hooked', {
      ...hostile('probe', '{}'),
      env: { NODE_OPTIONS: '--import=data:text/javascript,console.error(1)' },
    });
    expect(viaEnv.isError).toBe(true);
    expect(viaEnv.text).toMatch(/not_allowed.*NODE_OPTIONS/);
    const viaFile = await initialize(client, 'hooked-file', {
      ...hostile('probe', '{}'),
      envFile: 'hooks.env',
    });
    expect(viaFile.isError).toBe(true);
    expect(viaFile.text).toMatch(/env_file.*BASH_ENV/);
  });

  it('leaves no setsid grandchild behind once the call returns', async () => {
    const { client } = await startServer();
    const token = newToken();
    const outcome = await initialize(client, 'setsid', hostile('setsid', token));
    expect(outcome.isError, outcome.text).toBe(false);
    const report = JSON.parse(outcome.tools[0]!.description!) as { grandchild?: number };
    expect(report.grandchild).toBeGreaterThan(0);
    expect(processesWith(token)).toEqual([]);
  });

  it('leaves nothing behind when a stateless client disconnects mid-call', async () => {
    const { server } = await startServer({ MCP_STATELESS: 'true' });
    const token = newToken();
    const abort = new AbortController();
    const call = callStateless(server.url, 'dropped', hostile('hang', token), abort.signal).catch(
      () => undefined,
    );
    await waitForSandboxedTree(token);
    abort.abort();
    await call;
    await waitUntilGone(token);
  });

  it('leaves nothing behind when a stateful client disconnects mid-call: the call runs on to MCP_INIT_TIMEOUT_MS', async () => {
    // Long enough for the sandboxed tree to come up on a loaded machine, short enough to wait out.
    const timeoutMs = 10_000;
    const { server, client } = await startServer({ MCP_INIT_TIMEOUT_MS: String(timeoutMs) });
    const token = newToken();
    const call = initialize(client, 'dropped-stateful', hostile('hang', token)).catch(() => undefined);
    await waitForSandboxedTree(token);
    // Closing the transport drops the response stream without notifications/cancelled; the
    // session stays. Stateful, that is not a cancellation (docs/DESIGN): the call goes on.
    await client.close();
    await call;
    await waitUntilGone(token, timeoutMs + GONE_WITHIN_MS);
    // It ended by its timeout, not by the disconnect: a cancelled call is never cataloged.
    const { client: observer } = await connectStreamable(server.url, {
      Authorization: `Bearer ${AUTH_TOKEN}`,
    });
    let entry: { name: string; status: string; error?: string } | undefined;
    await waitFor(
      async () => {
        const catalog = await observer.readResource({ uri: 'servers://catalog' });
        const { servers: entries } = JSON.parse((catalog.contents[0] as { text: string }).text) as {
          servers: Array<{ name: string; status: string; error?: string }>;
        };
        entry = entries.find((e) => e.name === 'dropped-stateful');
        return entry !== undefined;
      },
      GONE_WITHIN_MS,
      'the dropped call in the catalog',
    );
    expect(entry).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^timeout:/),
    });
    await observer.close();
  });

  it('leaves nothing behind when the server is killed with SIGKILL', async () => {
    const server = spawnEntry(SERVER_ENTRY, [], {
      ...serverEnv({ MCP_STATELESS: 'true' }),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    spawned.push(server);
    const listening = await server.waitForLog((l) => l.msg === 'MCP server listening');
    const token = newToken();
    void callStateless(listening.url as string, 'orphan', hostile('hang', token)).catch(() => undefined);
    await waitForSandboxedTree(token);
    server.child.kill('SIGKILL');
    await server.exited;
    await waitUntilGone(token);
  });

  it.each([0, 5, 20, 50, 150, 500])(
    'leaves nothing behind when the server is killed with SIGKILL %i ms into the sandbox set-up',
    async (delayMs) => {
      const token = newToken();
      const dying = spawnEntry(
        join(FIXTURES, 'die-during-sandbox-setup.ts'),
        [
          String(delayMs),
          sandboxPaths(),
          process.execPath,
          join(FIXTURES, 'hostile-server.ts'),
          'hang',
          token,
        ],
        { PATH: `${NODE_BIN}:/usr/bin:/bin` },
        'stderr',
      );
      spawned.push(dying);
      let report = '';
      dying.child.stdout?.on('data', (chunk: Buffer) => {
        report += chunk.toString('utf8');
      });
      expect(await dying.exited).toMatchObject({ signal: 'SIGKILL' });
      // The sandbox was launched (bwrap had a pid) before the "server" died, at whatever stage.
      expect((JSON.parse(report) as { pid?: number }).pid).toBeGreaterThan(0);
      await waitUntilGone(token);
    },
  );

  it('runs at most MCP_INIT_MAX_CONCURRENT children; the rest wait, then answer `busy` after the timeout', async () => {
    const { client } = await startServer({ MCP_INIT_MAX_CONCURRENT: '1' });
    const [gateA, gateB] = [join(work, 'gates', `a-${tokens}`), join(work, 'gates', `b-${tokens}`)];
    writeFileSync(gateB, 'open');
    const [tokenA, tokenB] = [newToken(), newToken()];
    const first = initialize(client, 'first', hostile('gate', gateA, tokenA));
    await waitForProcesses(tokenA);
    const second = initialize(client, 'second', hostile('gate', gateB, tokenB));
    // The queued call's process does not start while the first holds the only slot.
    await holdsForQuietWindow(() => expect(processesWith(tokenB)).toEqual([]));
    writeFileSync(gateA, 'open');
    expect((await first).isError).toBe(false);
    expect((await second).isError).toBe(false);

    // `busy` without racing the clock: three hanging calls at once on one slot. The one that gets it runs
    // into its timeout; a waiter gives up one timeout after it queued. Whether the second gets
    // the slot in the instant the first frees it is timing, but then it holds the slot for a
    // whole timeout and the third, queued at the start, must give up: at least one is `busy`.
    const { client: busyClient } = await startServer({
      MCP_INIT_MAX_CONCURRENT: '1',
      MCP_INIT_TIMEOUT_MS: '3000',
    });
    const holders = [newToken(), newToken(), newToken()];
    const outcomes = await Promise.all(
      holders.map((token, i) => initialize(busyClient, `holder-${i}`, hostile('hang', token))),
    );
    const reasons = outcomes.map((o) => /failed to initialize \((\w+)\)/.exec(o.text)?.[1]);
    expect(reasons).toContain('timeout');
    expect(reasons).toContain('busy');
    for (const reason of reasons) expect(['busy', 'timeout']).toContain(reason);
    expect(outcomes.find((o) => o.text.includes('(busy)'))?.text).toMatch(/MCP_INIT_MAX_CONCURRENT/);
    for (const token of holders) expect(processesWith(token)).toEqual([]);
  });

  it('cuts an oversized listing at MCP_INIT_MAX_LISTING_BYTES, catalogs nothing of it and keeps memory bounded', async () => {
    const { client } = await startServer();
    const before = process.memoryUsage().rss;
    const outcome = await initialize(client, 'flood', hostile('flood', '100', String(1024 * 1024)));
    const grown = process.memoryUsage().rss - before;
    expect(outcome.isError).toBe(true);
    expect(outcome.text).toMatch(/listing_too_large.*1048576 bytes/);
    // 100 pages of 1 MiB read in full would add hundreds of MiB; the cap stops reading at 1 MiB.
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    const catalog = await client.readResource({ uri: 'servers://catalog' });
    const { servers: entries } = JSON.parse((catalog.contents[0] as { text: string }).text) as {
      servers: Array<{ name: string; status: string; tools: unknown[] }>;
    };
    const flood = entries.find((e) => e.name === 'flood');
    expect(flood).toMatchObject({ status: 'failed', tools: [] });
  });

  it('fails closed with sandbox_unavailable when the sandbox cannot start', async () => {
    const { client } = await startServer({
      MCP_INIT_SANDBOX_PATHS: `${sandboxPaths()},${join(work, 'no-such-dir')}`,
    });
    const outcome = await initialize(client, 'unconfined', hostile('probe', '{}'));
    expect(outcome.isError).toBe(true);
    expect(outcome.text).toMatch(/sandbox_unavailable/);
  });
});

describe('server_initialize in the sandbox: legitimate servers still work', () => {
  it("initializes this project's own --stdio server", async () => {
    const { client } = await startServer();
    const outcome = await initialize(client, 'self', {
      command: 'node',
      args: [join(REPO, 'src/bin/mcp-server.ts'), '--stdio'],
      env: { NOTES_DB: ':memory:', LOG_LEVEL: 'silent' },
    });
    expect(outcome.isError, outcome.text).toBe(false);
    expect(outcome.tools.map((t) => t.name)).toContain('save_note');
  });

  it('initializes a Python (stdlib) stdio server', async () => {
    const { client } = await startServer();
    const outcome = await initialize(client, 'python', {
      command: 'python3',
      args: [join(FIXTURES, 'python-server.py')],
    });
    expect(outcome.isError, outcome.text).toBe(false);
    expect(outcome.tools).toEqual([{ name: 'query', description: 'Runs a read-only query' }]);
  });

  it('works the same when the server itself runs as an unprivileged user (65534)', async () => {
    const server = spawnEntry(
      SERVER_ENTRY,
      [],
      {
        ...serverEnv({ MCP_STATELESS: 'true' }),
        MCP_HYBRID_TEST_SECRET: SECRET,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      'stdout',
      { uid: 65534, gid: 65534 },
    );
    spawned.push(server);
    const listening = await server.waitForLog((l) => l.msg === 'MCP server listening');
    const url = listening.url as string;
    const python = await callStateless(url, 'python', {
      command: 'python3',
      args: [join(FIXTURES, 'python-server.py')],
    });
    expect(python).toMatchObject({ isError: false });
    const spec = {
      read: [join(work, 'secrets', 'token'), join(work, 'env', 'other.env')],
      write: [],
      secret: 'MCP_HYBRID_TEST_SECRET',
      port: 1,
    };
    const probe = await callStateless(url, 'probe', hostile('probe', JSON.stringify(spec)));
    const report = JSON.parse(probe.tools[0]!.description!) as {
      uid: number;
      reads: Record<string, string>;
      secretSeen: boolean;
    };
    expect(report.uid).toBe(65534);
    expect(report.secretSeen).toBe(false);
    for (const path of spec.read) expect(report.reads[path], path).not.toBe('READABLE');
  });
});
