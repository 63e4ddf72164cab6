/**
 * The sandbox's settings and guarantees shown on a real child in the real sandbox (bubblewrap),
 * through the real server — not only as bwrap arguments (the unit tests check those):
 * - MCP_INIT_SANDBOX=off warns at start, on the log stream of either mode;
 * - inside, the kernel reports no_new_privs, no capabilities and namespaces of its own;
 * - MCP_INIT_NETWORK=host reaches a loopback listener, the default cannot;
 * - MCP_INIT_MEMORY_MB stops a child that allocates past it, with an error that says so;
 * - what the child prints is masked before it reaches the caller, the catalog or the logs —
 *   also a secret the stderr tail, the stdout excerpt or a JSON parser's quote cuts in two;
 * - an empty MCP_INIT_ALLOWED_COMMANDS refuses every command.
 * Each positive finding has a control that shows the probe would see the opposite.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXCERPT_CHARS } from '../../src/server/initialize/initializer.ts';
import { STDERR_TAIL_BYTES } from '../../src/server/initialize/output-tail.ts';
import { processesWith } from '../helpers/host-processes.ts';
import {
  connectStreamable,
  startTestServer,
  TEST_SANDBOX_PATHS,
  type TestServer,
  waitFor,
} from '../helpers/mcp-server.ts';
import { REPO, SERVER_ENTRY, type Spawned, spawnEntry } from '../helpers/processes.ts';
import { type InitOutcome, initialize, reportOf } from '../helpers/server-initialize.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const FIXTURES = join(REPO, 'test/fixtures');
const NODE_BIN = dirname(realpathSync(process.execPath));
const AUTH_TOKEN = `token-${randomUUID()}`;
/** An env-file secret of the operator's, handed to the child it names and echoed by it. */
const API_KEY = `key-${randomUUID()}-${randomUUID()}`;
/** Any piece of the secret this long counts as a leak. */
const LEAK_PIECE_CHARS = 8;

let work: string;
let servers = 0;
const running: TestServer[] = [];
const spawned: Spawned[] = [];
const clients: Client[] = [];

beforeAll(() => {
  work = makeTempDir('sandbox-settings-');
  for (const dir of ['env', 'secrets']) mkdirSync(join(work, dir));
  writeFileSync(join(work, 'env', 'api.env'), `API_KEY=${API_KEY}\n`);
  writeFileSync(join(work, 'secrets', 'token'), `${AUTH_TOKEN}\n`);
  for (const dir of [work, join(work, 'env'), join(work, 'secrets')]) chmodSync(dir, 0o755);
  for (const file of ['env/api.env', 'secrets/token']) chmodSync(join(work, file), 0o644);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  const processes = spawned.splice(0);
  for (const s of processes) s.child.kill('SIGKILL');
  await Promise.all(processes.map((s) => s.exited));
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function serverEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NOTES_DB: join(work, `notes-${++servers}.db`),
    MCP_AUTH_TOKEN_FILE: join(work, 'secrets', 'token'),
    MCP_INIT_ALLOWED_COMMANDS: 'node,python3',
    MCP_INIT_ENV_DIR: join(work, 'env'),
    MCP_INIT_SANDBOX_PATHS: TEST_SANDBOX_PATHS.join(','),
    MCP_INIT_TIMEOUT_MS: '60000',
    PATH: `${NODE_BIN}:/usr/bin:/bin`,
    ...overrides,
  };
}

async function connect(url: string): Promise<Client> {
  const { client } = await connectStreamable(url, { Authorization: `Bearer ${AUTH_TOKEN}` });
  clients.push(client);
  return client;
}

/** A server in this process (its logs are silent). */
async function startServer(overrides: Record<string, string> = {}) {
  const server = await startTestServer(serverEnv(overrides));
  running.push(server);
  return { server, client: await connect(server.url) };
}

/** The real entrypoint as a process of its own, logging JSON to `logStream`. */
function spawnServer(
  overrides: Record<string, string>,
  args: string[] = [],
  logStream: 'stdout' | 'stderr' = 'stdout',
) {
  const server = spawnEntry(
    SERVER_ENTRY,
    args,
    { ...serverEnv(overrides), PORT: '0', HOST: '127.0.0.1', HOME: '/tmp' },
    logStream,
  );
  spawned.push(server);
  return server;
}

const hostile = (...args: string[]) => ({
  command: 'node',
  args: [join(FIXTURES, 'hostile-server.ts'), ...args],
});

const reasonOf = (outcome: InitOutcome) => /failed to initialize \((\w+)\)/.exec(outcome.text)?.[1];

async function catalogText(client: Client): Promise<string> {
  const catalog = await client.readResource({ uri: 'servers://catalog' });
  return (catalog.contents[0] as { text: string }).text;
}

async function catalogEntry(client: Client, name: string) {
  const { servers: entries } = JSON.parse(await catalogText(client)) as {
    servers: Array<{ name: string; status: string; error?: string; tools: unknown[] }>;
  };
  return entries.find((e) => e.name === name);
}

/** Every piece of `secret` at least LEAK_PIECE_CHARS long found in `text`. */
function piecesOf(secret: string, text: string): string[] {
  const found = new Set<string>();
  for (let i = 0; i + LEAK_PIECE_CHARS <= secret.length; i++) {
    const piece = secret.slice(i, i + LEAK_PIECE_CHARS);
    if (text.includes(piece)) found.add(piece);
  }
  return [...found];
}

describe('MCP_INIT_SANDBOX=off', () => {
  const isOffWarning = (l: Record<string, unknown>) =>
    l.level === 'warn' && String(l.msg).includes('MCP_INIT_SANDBOX=off');

  it('logs a warning at start, before the server listens (HTTP mode: the log is stdout); the default logs none', async () => {
    const off = spawnServer({ MCP_INIT_SANDBOX: 'off' });
    const warning = await off.waitForLog(isOffWarning);
    expect(warning.msg).toMatch(/children run unconfined, as this server's user/);
    await off.waitForLog((l) => l.msg === 'MCP server listening');
    expect(off.logs.findIndex(isOffWarning)).toBeLessThan(
      off.logs.findIndex((l) => l.msg === 'MCP server listening'),
    );

    // The control: the warning is logged before 'listening', so its absence is certain then.
    const sandboxed = spawnServer({});
    await sandboxed.waitForLog((l) => l.msg === 'MCP server listening');
    expect(sandboxed.logs.filter(isOffWarning)).toEqual([]);
  });

  it('logs the warning on stderr in --stdio mode, where stdout is the protocol', async () => {
    const off = spawnServer({ MCP_INIT_SANDBOX: 'off' }, ['--stdio'], 'stderr');
    let stdout = '';
    off.child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const warning = await off.waitForLog(isOffWarning);
    expect(warning.msg).toMatch(/children run unconfined/);
    await off.waitForLog((l) => l.msg === 'MCP server serving stdio');
    expect(stdout).toBe('');
  });
});

interface Identity {
  uid: number;
  noNewPrivs: string;
  capEff: string;
  capPrm: string;
  capInh: string;
  capAmb: string;
  capBnd: string;
  hostname: string;
  namespaces: Record<string, string>;
}

/** The same facts about this process: the server's side of the sandbox. */
function hostIdentity(): Omit<Identity, 'uid'> {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
  const namespaces: Record<string, string> = {};
  for (const ns of ['ipc', 'uts', 'pid', 'mnt', 'net', 'user', 'cgroup']) {
    namespaces[ns] = readlinkSync(`/proc/self/ns/${ns}`);
  }
  return {
    noNewPrivs: field('NoNewPrivs'),
    capEff: field('CapEff'),
    capPrm: field('CapPrm'),
    capInh: field('CapInh'),
    capAmb: field('CapAmb'),
    capBnd: field('CapBnd'),
    hostname: hostname(),
    namespaces,
  };
}

describe('inside the sandbox, as the kernel reports it', () => {
  it('runs with no_new_privs, no capabilities, its own hostname and IPC, UTS, PID, mount, network, user and cgroup namespaces', async () => {
    const host = hostIdentity();
    const { client } = await startServer();
    const outcome = await initialize(client, 'identity', hostile('identity'));
    expect(outcome.isError, outcome.text).toBe(false);
    const inside = reportOf<Identity>(outcome);

    expect(inside.uid).toBe(65534);
    expect(inside.noNewPrivs).toBe('1');
    for (const set of ['capEff', 'capPrm', 'capInh', 'capAmb', 'capBnd'] as const) {
      expect(inside[set], set).toBe('0000000000000000');
    }
    expect(inside.hostname).toBe('mcp-sandbox');
    expect(inside.hostname).not.toBe(host.hostname);
    for (const ns of ['ipc', 'uts', 'pid', 'mnt', 'net', 'user', 'cgroup']) {
      expect(inside.namespaces[ns], ns).toMatch(new RegExp(`^${ns}:\\[\\d+\\]$`));
      expect(inside.namespaces[ns], ns).not.toBe(host.namespaces[ns]);
    }
  });

  it('control: unsandboxed, the same probe reports exactly the host’s namespaces, hostname and privileges', async () => {
    const host = hostIdentity();
    const { client } = await startServer({ MCP_INIT_SANDBOX: 'off' });
    const outcome = await initialize(client, 'identity-off', hostile('identity'));
    expect(outcome.isError, outcome.text).toBe(false);
    const { uid: _uid, ...outside } = reportOf<Identity>(outcome);
    expect(outside).toEqual(host);
  });
});

describe('MCP_INIT_NETWORK', () => {
  let listener: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => listener.close(resolve));
  });

  const probeNetwork = (client: Client, name: string) =>
    initialize(
      client,
      name,
      hostile('probe', JSON.stringify({ read: [], write: [], secret: API_KEY, port })),
    );

  it('none (the default): the child cannot reach a loopback listener of the host', async () => {
    const { client } = await startServer();
    const outcome = await probeNetwork(client, 'net-none');
    expect(outcome.isError, outcome.text).toBe(false);
    // Its own loopback has nothing listening: refused, and the host's listener saw nobody.
    expect(reportOf<{ network: string }>(outcome).network).toBe('ECONNREFUSED');
    expect(connections).toBe(0);
  });

  it('host: the child reaches the same listener', async () => {
    const { client } = await startServer({ MCP_INIT_NETWORK: 'host' });
    const before = connections;
    const outcome = await probeNetwork(client, 'net-host');
    expect(outcome.isError, outcome.text).toBe(false);
    expect(reportOf<{ network: string }>(outcome).network).toBe('CONNECTED');
    // The child reported the connect after it happened; the accept has been seen or is queued.
    await waitFor(() => connections > before, 30_000, "the child's connection at the listener");
    expect(connections).toBe(before + 1);
  });
});

describe('MCP_INIT_MEMORY_MB', () => {
  // Node needs about 640 MiB of RLIMIT_DATA to start; the buffer is never touched, so the
  // control that may allocate it costs address space, not memory.
  const ALLOCATE_MIB = 1536;

  it('stops a child that allocates past the limit with an error that names the limit; the server keeps serving', async () => {
    const { client } = await startServer({ MCP_INIT_MEMORY_MB: '1024' });
    const outcome = await initialize(client, 'hog', hostile('allocate', String(ALLOCATE_MIB)));
    expect(outcome.isError).toBe(true);
    expect(reasonOf(outcome)).toBe('crashed');
    expect(outcome.text).toMatch(/allocation failed/i);
    expect(outcome.text).toMatch(/ran out of memory: .*1024 MiB .*MCP_INIT_MEMORY_MB/);
    expect(await catalogEntry(client, 'hog')).toMatchObject({ status: 'failed', tools: [] });

    // The same server goes on: another child initializes, a note is saved and read back.
    const python = await initialize(client, 'after-hog', {
      command: 'python3',
      args: [join(FIXTURES, 'python-server.py')],
    });
    expect(python.isError, python.text).toBe(false);
    const saved = await client.callTool({ name: 'save_note', arguments: { title: 'after', content: 'hog' } });
    expect(saved.isError).toBeFalsy();
    const read = (await client.callTool({ name: 'read_note', arguments: { title: 'after' } })) as {
      structuredContent?: { content: string };
    };
    expect(read.structuredContent?.content).toBe('hog');
  });

  it('control: under a limit above the allocation, the same child initializes', async () => {
    const { client } = await startServer({ MCP_INIT_MEMORY_MB: '4096' });
    const outcome = await initialize(client, 'hog-allowed', hostile('allocate', String(ALLOCATE_MIB)));
    expect(outcome.isError, outcome.text).toBe(false);
    expect(reportOf<{ allocated: number }>(outcome).allocated).toBe(ALLOCATE_MIB * 1024 * 1024);
  });
});

describe('what the child prints never carries the secrets it was given', () => {
  /** Each place a leak would show: the tool error (what a job gets back), the catalog, every log line. */
  async function leaks(server: Spawned, client: Client, name: string, outcome: InitOutcome) {
    await server.waitForLog((l) => l.msg === 'server_initialize failed' && l.server === name);
    return {
      result: piecesOf(API_KEY, outcome.text),
      catalog: piecesOf(API_KEY, await catalogText(client)),
      logs: piecesOf(API_KEY, JSON.stringify(server.logs) + server.stray.join('\n')),
    };
  }
  const none = { result: [], catalog: [], logs: [] };

  async function startLoggedServer() {
    const server = spawnServer({ LOG_LEVEL: 'debug' });
    const listening = await server.waitForLog((l) => l.msg === 'MCP server listening');
    return { server, client: await connect(listening.url as string) };
  }

  it('masks an env-file secret in the stderr a crashing child leaves, also where the tail cuts into it', async () => {
    const { server, client } = await startLoggedServer();

    // Whole: the secret is well inside the kept tail.
    const whole = await initialize(client, 'echo-whole', {
      ...hostile('echo', 'API_KEY', 'stderr', '10'),
      envFile: 'api.env',
    });
    expect(reasonOf(whole)).toBe('crashed');
    expect(whole.text).toContain('config: API_KEY=[redacted]');
    expect(await leaks(server, client, 'echo-whole', whole)).toEqual(none);

    // Cut: after the secret come enough three-byte characters that the tail (the last
    // STDERR_TAIL_BYTES) begins in its middle; in characters the tail is shorter than what
    // a message quotes, so that start is in the message.
    const after = Math.floor((STDERR_TAIL_BYTES - 1 - API_KEY.length / 2) / 3);
    const cut = await initialize(client, 'echo-cut', {
      ...hostile('echo', 'API_KEY', 'stderr', String(after)),
      envFile: 'api.env',
    });
    expect(reasonOf(cut)).toBe('crashed');
    // The tail's start — the piece of the secret — is quoted, masked.
    expect(cut.text).toContain('; stderr: …[redacted]\n€€€');
    expect(await leaks(server, client, 'echo-cut', cut)).toEqual(none);
  });

  it('masks an env-file secret in non-MCP stdout, also where the excerpt or the JSON parser’s quote cuts into it', async () => {
    const { server, client } = await startLoggedServer();

    // The line starts with the secret: the parser's message quotes its first few characters.
    const quoted = await initialize(client, 'stdout-quoted', {
      ...hostile('echo', 'API_KEY', 'stdout', '0'),
      envFile: 'api.env',
    });
    expect(reasonOf(quoted)).toBe('not_mcp');
    expect(quoted.text).toContain('[redacted]');
    expect(await leaks(server, client, 'stdout-quoted', quoted)).toEqual(none);

    // The secret straddles the end of the excerpt a message quotes.
    const before = EXCERPT_CHARS - Math.floor(API_KEY.length / 2);
    const cut = await initialize(client, 'stdout-cut', {
      ...hostile('echo', 'API_KEY', 'stdout', String(before)),
      envFile: 'api.env',
    });
    expect(reasonOf(cut)).toBe('not_mcp');
    expect(cut.text).toContain('nnnnnnnn[redacted]');
    expect(await leaks(server, client, 'stdout-cut', cut)).toEqual(none);
  });
});

describe('an empty MCP_INIT_ALLOWED_COMMANDS', () => {
  const commands = ['node', 'python3', 'npx', 'uv', 'uvx', 'sh', process.execPath, '/usr/bin/python3'];

  it.each(['', ' '])('(%j) refuses every command, by name or by path, and keeps serving', async (value) => {
    const { client } = await startServer({ MCP_INIT_ALLOWED_COMMANDS: value });
    const token = `empty-allowlist-${randomUUID()}`;
    for (const [i, command] of commands.entries()) {
      const outcome = await initialize(client, `refused-${i}`, {
        command,
        args: [join(FIXTURES, 'hostile-server.ts'), 'hang', token],
      });
      expect(outcome.isError, command).toBe(true);
      expect(reasonOf(outcome), command).toBe('not_allowed');
      expect(outcome.text, command).toContain(`'${command}'`);
      expect(outcome.text, command).toMatch(/MCP_INIT_ALLOWED_COMMANDS is empty: no command is allowed/);
      expect(await catalogEntry(client, `refused-${i}`), command).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^not_allowed:/),
      });
    }
    // Refused before anything was spawned: no process carries the token.
    expect(processesWith(token)).toEqual([]);
    const saved = await client.callTool({
      name: 'save_note',
      arguments: { title: 'still', content: 'serving' },
    });
    expect(saved.isError).toBeFalsy();
  });

  it('control: with `node` listed, the same request runs', async () => {
    const { client } = await startServer({ MCP_INIT_ALLOWED_COMMANDS: 'node' });
    const outcome = await initialize(client, 'allowed', hostile('identity'));
    expect(outcome.isError, outcome.text).toBe(false);
  });
});
