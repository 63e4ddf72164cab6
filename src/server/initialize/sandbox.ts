/**
 * The sandbox a server_initialize child runs in, as a launch plan: which program to spawn,
 * with which argv, as which user. Building the plan is pure (unit-tested); `describeHost`
 * (sandbox-host.ts) gathers the facts about this machine it needs.
 *
 * With `bwrap` (bubblewrap) the child gets:
 * - its own user, PID, mount, IPC, UTS and cgroup namespaces, and its own (empty) network
 *   namespace unless `network` is `host`;
 * - a read-only view of the system paths (/usr, /etc and the /bin, /lib… links or dirs) plus
 *   the operator's `extraPaths`, nothing else of the host's file system — not the server's
 *   working directory, home, data or secrets; `masked` paths (the env-file directory, the notes
 *   database's directory, secret files) are hidden even when they lie inside a visible path;
 * - a fresh /proc that shows only the sandbox's own processes, a minimal /dev, and a private
 *   writable /tmp (a tmpfs of at most `tmpfsBytes`) that is also its HOME; it starts in an
 *   empty directory at the path of the server's working directory (so relative args such as
 *   `dist/bin/mcp-server.js` resolve where an operator path makes them visible);
 * - uid/gid 65534 inside; when the server runs as root, bwrap itself is started as 65534 too,
 *   so even the user namespace maps to an unprivileged host uid (a sandboxed "root-mapped" uid
 *   would still own root's files);
 * - no capabilities, no_new_privs (bwrap sets it), and --die-with-parent;
 * - as the namespace's PID 1 (--as-pid-1) the lifeline (lifeline.ts), run by the server's own
 *   node: it starts the command on the server's go-ahead, and exits when the command exits or
 *   the server goes away (even by SIGKILL, even during bwrap's set-up). When PID 1 dies the
 *   kernel kills every process left in the namespace — setsid or not. bwrap's processes stay in
 *   the process group the server created (no --new-session), so "the group is gone"
 *   (server-process.ts) means "the namespace is gone". The group was made with setsid(), so
 *   there is no controlling terminal to inject into.
 *
 * Memory: RLIMIT_DATA (prlimit, inside the sandbox) when `memoryMb` > 0, on the command and
 * everything it starts, not on the lifeline. It bounds each process's heap and private writable
 * mappings; it is per process, not per tree (cgroups would be, but need a delegated cgroup a
 * container rarely has).
 */
import { lifelineArgs } from './lifeline.ts';

export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;
/** The sandbox's HOME and working directory: inside its private tmpfs. */
export const SANDBOX_HOME = '/tmp';

export type SandboxMode = 'bwrap' | 'off';
export type SandboxNetwork = 'none' | 'host';

export interface SandboxSettings {
  mode: SandboxMode;
  /** Extra read-only host paths (MCP_INIT_SANDBOX_PATHS), absolute. */
  extraPaths: readonly string[];
  network: SandboxNetwork;
  /** RLIMIT_DATA per process in MiB; 0 = none. */
  memoryMb: number;
  /** Size of the private /tmp. */
  tmpfsBytes: number;
  /**
   * The server's working directory: the child starts there, so relative args resolve as
   * unsandboxed, but it is an empty directory inside unless an operator path lies in it.
   */
  workdir?: string;
}

/** One top-level system path: bound read-only if a directory, recreated if a symlink. */
export type SystemPath = { path: string; kind: 'dir' } | { path: string; kind: 'symlink'; target: string };

/** A host path to hide inside the sandbox. */
export interface MaskedPath {
  path: string;
  kind: 'dir' | 'file';
}

/** Facts about this machine the plan depends on (see sandbox-host.ts). */
export interface SandboxHost {
  /** Effective uid of the server; 0 means bwrap must be started as SANDBOX_UID. */
  euid: number;
  bwrap: string;
  prlimit: string;
  /** The server's node executable (real path): it runs the lifeline inside the sandbox. */
  node: string;
  systemPaths: readonly SystemPath[];
  /** Paths to hide, already filtered to those inside a visible path. */
  masked: readonly MaskedPath[];
}

export interface LaunchPlan {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Run the spawned process as this user (only when the server is root and sandboxed). */
  uid?: number;
  gid?: number;
  /** The spawned process's stdio entry LIFELINE_FD is the lifeline: answer it (lifeline.ts). */
  lifeline?: boolean;
}

export interface ChildCommand {
  /** Absolute path of the program (already checked against the allowlist). */
  executable: string;
  args: readonly string[];
  env: Record<string, string>;
}

/** The top-level paths a dynamically linked program needs, before the operator's own. */
export const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];

/** bwrap's argv (without the program) for `settings` on `host`. */
export function bwrapArgs(settings: SandboxSettings, host: SandboxHost): string[] {
  const args = [
    '--unshare-all',
    ...(settings.network === 'host' ? ['--share-net'] : []),
    '--unshare-user',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_GID),
    '--hostname',
    'mcp-sandbox',
    '--die-with-parent',
    '--as-pid-1',
    '--cap-drop',
    'ALL',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--size',
    String(settings.tmpfsBytes),
    '--tmpfs',
    '/tmp',
  ];
  const workdir = settings.workdir && settings.workdir !== '/' ? settings.workdir : undefined;
  if (workdir) args.push('--dir', workdir);
  for (const entry of host.systemPaths) {
    if (entry.kind === 'symlink') args.push('--symlink', entry.target, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const path of settings.extraPaths) args.push('--ro-bind', path, path);
  // The lifeline's interpreter, wherever it lives (a no-op bind when already visible).
  args.push('--ro-bind', host.node, host.node);
  // After every bind, so a mask also covers what an operator path would have shown.
  for (const masked of host.masked) {
    if (masked.kind === 'dir') args.push('--tmpfs', masked.path);
    else args.push('--ro-bind', '/dev/null', masked.path);
  }
  args.push('--chdir', workdir ?? SANDBOX_HOME);
  return args;
}

/** How to spawn `command` under `settings`: through prlimit and bwrap, or (off) as it is. */
export function planLaunch(settings: SandboxSettings, host: SandboxHost, command: ChildCommand): LaunchPlan {
  const limit = settings.memoryMb > 0 ? [`--data=${settings.memoryMb * 1024 * 1024}`, '--'] : undefined;
  if (settings.mode === 'off') {
    return limit
      ? { file: host.prlimit, args: [...limit, command.executable, ...command.args], env: command.env }
      : { file: command.executable, args: [...command.args], env: command.env };
  }
  // prlimit runs inside (a system path), so the limit holds the command, not the lifeline.
  const program = [...(limit ? [host.prlimit, ...limit] : []), command.executable, ...command.args];
  return {
    file: host.bwrap,
    args: [...bwrapArgs(settings, host), '--', host.node, ...lifelineArgs(program)],
    env: { ...command.env, HOME: SANDBOX_HOME },
    lifeline: true,
    ...(host.euid === 0 && { uid: SANDBOX_UID, gid: SANDBOX_GID }),
  };
}
