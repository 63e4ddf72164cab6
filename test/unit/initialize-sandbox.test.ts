/**
 * The sandbox launch plan (pure), the child-env denylist and the concurrency slots.
 */
import { describe, expect, it } from 'vitest';
import { buildChildEnv, isProtectedEnvName } from '../../src/server/initialize/child-env.ts';
import { InitializeError } from '../../src/server/initialize/errors.ts';
import { LIFELINE_FD, LIFELINE_SOURCE } from '../../src/server/initialize/lifeline.ts';
import {
  bwrapArgs,
  planLaunch,
  type SandboxHost,
  type SandboxSettings,
} from '../../src/server/initialize/sandbox.ts';
import { Slots } from '../../src/server/initialize/slots.ts';

const settings: SandboxSettings = {
  mode: 'bwrap',
  extraPaths: ['/srv/mcp'],
  network: 'none',
  memoryMb: 1024,
  tmpfsBytes: 1 << 20,
};
const host: SandboxHost = {
  euid: 0,
  bwrap: '/usr/bin/bwrap',
  prlimit: '/usr/bin/prlimit',
  node: '/opt/node/bin/node',
  systemPaths: [
    { path: '/usr', kind: 'dir' },
    { path: '/bin', kind: 'symlink', target: 'usr/bin' },
    { path: '/etc', kind: 'dir' },
  ],
  masked: [
    { path: '/srv/mcp/data', kind: 'dir' },
    { path: '/srv/mcp/token', kind: 'file' },
  ],
};
const command = {
  executable: '/usr/bin/node',
  args: ['server.js', '--stdio'],
  env: { PATH: '/usr/bin', HOME: '/root' },
};

/** The value following `flag` in `args`, for each occurrence. */
const valuesOf = (args: string[], flag: string, width = 1) =>
  args.flatMap((a, i) => (a === flag ? [args.slice(i + 1, i + 1 + width).join(' ')] : []));

describe('sandbox launch plan', () => {
  it('isolates every namespace, drops to 65534, dies with the server and has no network by default', () => {
    const args = bwrapArgs(settings, host);
    expect(args).toEqual(
      expect.arrayContaining(['--unshare-all', '--unshare-user', '--die-with-parent', '--as-pid-1']),
    );
    expect(args).not.toContain('--share-net');
    expect(valuesOf(args, '--uid')).toEqual(['65534']);
    expect(valuesOf(args, '--gid')).toEqual(['65534']);
    expect(valuesOf(args, '--cap-drop')).toEqual(['ALL']);
    expect(valuesOf(args, '--proc')).toEqual(['/proc']);
    expect(valuesOf(args, '--chdir')).toEqual(['/tmp']);
    const inApp = bwrapArgs({ ...settings, workdir: '/app' }, host);
    expect(valuesOf(inApp, '--dir')).toEqual(['/app']);
    expect(valuesOf(inApp, '--chdir')).toEqual(['/app']);
    expect(bwrapArgs({ ...settings, network: 'host' }, host)).toContain('--share-net');
  });

  it('binds only system paths and operator paths read-only, then masks secrets inside them', () => {
    const args = bwrapArgs(settings, host);
    expect(valuesOf(args, '--ro-bind', 2)).toEqual([
      '/usr /usr',
      '/etc /etc',
      '/srv/mcp /srv/mcp',
      '/opt/node/bin/node /opt/node/bin/node',
      '/dev/null /srv/mcp/token',
    ]);
    expect(valuesOf(args, '--symlink', 2)).toEqual(['usr/bin /bin']);
    expect(valuesOf(args, '--bind')).toEqual([]);
    // /tmp first (private, sized), the masks after every bind so they win.
    expect(valuesOf(args, '--tmpfs')).toEqual(['/tmp', '/srv/mcp/data']);
    expect(args.indexOf('--size')).toBeLessThan(args.indexOf('--tmpfs'));
    expect(args.lastIndexOf('/srv/mcp/data')).toBeGreaterThan(args.indexOf('/srv/mcp'));
  });

  it('runs bwrap → the lifeline (PID 1) → prlimit → the command, as 65534 when the server is root', () => {
    const plan = planLaunch(settings, host, command);
    expect(plan.file).toBe('/usr/bin/bwrap');
    const program = plan.args.slice(plan.args.indexOf('--') + 1);
    expect(program).toEqual([
      '/opt/node/bin/node',
      '--disable-sigusr1',
      '-e',
      LIFELINE_SOURCE,
      '--',
      String(LIFELINE_FD),
      '/usr/bin/prlimit',
      `--data=${1024 * 1024 * 1024}`,
      '--',
      '/usr/bin/node',
      'server.js',
      '--stdio',
    ]);
    expect(plan).toMatchObject({
      lifeline: true,
      uid: 65534,
      gid: 65534,
      env: { PATH: '/usr/bin', HOME: '/tmp' },
    });

    const unprivileged = planLaunch({ ...settings, memoryMb: 0 }, { ...host, euid: 1000 }, command);
    expect(unprivileged.file).toBe('/usr/bin/bwrap');
    expect(unprivileged.args.slice(-4)).toEqual([
      String(LIFELINE_FD),
      '/usr/bin/node',
      'server.js',
      '--stdio',
    ]);
    expect(unprivileged.uid).toBeUndefined();
  });

  it('with the sandbox off, runs the command itself (under prlimit when a memory limit is set)', () => {
    expect(planLaunch({ ...settings, mode: 'off', memoryMb: 0 }, host, command)).toEqual({
      file: '/usr/bin/node',
      args: ['server.js', '--stdio'],
      env: command.env,
    });
    const limited = planLaunch({ ...settings, mode: 'off' }, host, command);
    expect(limited.file).toBe('/usr/bin/prlimit');
    expect(limited.uid).toBeUndefined();
  });
});

describe('child environment denylist', () => {
  it.each([
    'NODE_OPTIONS',
    'node_options',
    'BASH_ENV',
    'ENV',
    'PYTHONSTARTUP',
    'PYTHONPATH',
    'PERL5OPT',
    'RUBYOPT',
    'JAVA_TOOL_OPTIONS',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'DYLD_INSERT_LIBRARIES',
    'PATH',
  ])('refuses %s from env and from an envFile', (name) => {
    expect(isProtectedEnvName(name)).toBe(true);
    expect(() => buildChildEnv({}, {}, { [name]: 'x' })).toThrow(InitializeError);
    expect(() => buildChildEnv({}, { [name]: 'x' })).toThrow(/envFile may not set/);
  });

  it('keeps ordinary variables, and nothing but PATH and HOME of ours', () => {
    expect(buildChildEnv({ PATH: '/usr/bin', HOME: '/h' }, { A: '1' }, { A: '2', DB_HOST: 'db' })).toEqual({
      PATH: '/usr/bin',
      HOME: '/h',
      A: '2',
      DB_HOST: 'db',
    });
    expect(isProtectedEnvName('NODE_ENV')).toBe(false);
  });
});

describe('Slots', () => {
  it('admits `limit` holders, queues the rest in order, and lets an aborted waiter leave', async () => {
    const slots = new Slots(1);
    const first = await slots.acquire();
    const order: string[] = [];
    const second = slots.acquire().then((release) => {
      order.push('second');
      return release;
    });
    const abort = new AbortController();
    const third = slots.acquire(abort.signal);
    expect(slots.waiting).toBe(2);
    abort.abort(new Error('gave up'));
    await expect(third).rejects.toThrow('gave up');
    expect(slots.waiting).toBe(1);
    first();
    first(); // a second release is ignored
    (await second)();
    expect(order).toEqual(['second']);
    expect(slots.held).toBe(0);
  });
});
