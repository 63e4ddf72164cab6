/**
 * What the sandbox plan needs to know about this machine, and whether the sandbox works
 * here at all. Everything that touches the file system or spawns lives in this module, so
 * sandbox.ts stays a pure function of its inputs.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { isWithin } from './env-file.ts';
import { InitializeError } from './errors.ts';
import { answerLifeline, LIFELINE_FD } from './lifeline.ts';
import {
  type LaunchPlan,
  type MaskedPath,
  planLaunch,
  type SandboxHost,
  type SandboxSettings,
  SYSTEM_PATHS,
  type SystemPath,
} from './sandbox.ts';

/**
 * The host programs the sandbox runs: bwrap itself and prlimit (MCP_INIT_MEMORY_MB). An image
 * must carry both (Dockerfile.server checks them at build time; a unit test checks that).
 */
export const SANDBOX_TOOLS = ['bwrap', 'prlimit'] as const;
/** What the availability probe runs in a test sandbox. */
export const PROBE_COMMAND = '/usr/bin/true';

/** Where bwrap and prlimit are looked up: system directories only, never a request's PATH. */
const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin'];
const PROBE_TIMEOUT_MS = 10_000;
const PROBE_STDERR_CHARS = 500;

/** The first executable `name` in TOOL_DIRS, or the bare name (spawning it then reports ENOENT). */
function systemTool(name: (typeof SANDBOX_TOOLS)[number]): string {
  for (const dir of TOOL_DIRS) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return name;
}

function realOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The system paths present on this host, symlinks (merged /usr) kept as symlinks. */
export function systemPaths(): SystemPath[] {
  const found: SystemPath[] = [];
  for (const path of SYSTEM_PATHS) {
    try {
      const info = lstatSync(path);
      if (info.isSymbolicLink()) found.push({ path, kind: 'symlink', target: readlinkSync(path) });
      else if (info.isDirectory()) found.push({ path, kind: 'dir' });
    } catch {
      // absent on this host
    }
  }
  return found;
}

/** Real paths the sandbox shows: the system directories and the operator's paths. */
export function visibleRoots(settings: SandboxSettings, system: readonly SystemPath[]): string[] {
  const roots = [...system.filter((p) => p.kind === 'dir').map((p) => p.path), ...settings.extraPaths];
  return roots.map(realOrUndefined).filter((p): p is string => p !== undefined);
}

/**
 * Of `candidates` (the env-file directory, the notes database, secret files), those that
 * exist and lie inside a visible root, as real paths. A database file is masked with its
 * directory (its -wal and -shm files sit beside it).
 */
export function maskedPaths(candidates: readonly string[], roots: readonly string[]): MaskedPath[] {
  const masked = new Map<string, MaskedPath>();
  for (const candidate of candidates) {
    const real = realOrUndefined(candidate);
    if (real === undefined || !roots.some((root) => isWithin(root, real))) continue;
    if (roots.includes(real)) continue; // hiding a whole root is the operator's call, not ours
    const kind = statSync(real).isDirectory() ? 'dir' : 'file';
    masked.set(real, { path: real, kind });
  }
  return [...masked.values()];
}

/** The notes database's directory (SQLite keeps -wal/-shm beside the file), or nothing for :memory:. */
export function notesDbMask(notesDb: string | undefined): string[] {
  if (notesDb === undefined || notesDb === ':memory:' || notesDb.startsWith('file:')) return [];
  return [dirname(notesDb)];
}

export interface SandboxRuntime {
  settings: SandboxSettings;
  /** The launch plan for a resolved, allowed command; throws `spawn_failed` if it cannot be seen inside. */
  plan(executable: string, args: readonly string[], env: Record<string, string>): LaunchPlan;
  /** Resolves when the sandbox can start here; throws `sandbox_unavailable` otherwise. */
  ensureAvailable(): Promise<void>;
}

/** A sandbox runtime for this host; `maskCandidates` are hidden wherever they are visible. */
export function createSandboxRuntime(
  settings: SandboxSettings,
  maskCandidates: readonly string[],
): SandboxRuntime {
  const system = systemPaths();
  const roots = visibleRoots(settings, system);
  const host: SandboxHost = {
    euid: process.geteuid?.() ?? -1,
    bwrap: systemTool('bwrap'),
    prlimit: systemTool('prlimit'),
    node: realOrUndefined(process.execPath) ?? process.execPath,
    systemPaths: system,
    masked: maskedPaths(maskCandidates, roots),
  };
  let available: Promise<void> | undefined;

  const listedRoots = [...system.filter((p) => p.kind === 'dir').map((p) => p.path), ...settings.extraPaths];
  const plan = (executable: string, args: readonly string[], env: Record<string, string>) => {
    if (settings.mode === 'off') return planLaunch(settings, host, { executable, args, env });
    const real = assertVisible(executable, roots, host.masked);
    // Run it by the path it was found at when that path exists inside too (a virtualenv's
    // bin/python must keep its name), else by its real path (a symlink from outside).
    const inside = listedRoots.some((root) => isWithin(root, executable)) ? executable : real;
    return planLaunch(settings, host, { executable: inside, args, env });
  };

  return {
    settings,
    plan,
    ensureAvailable() {
      if (settings.mode === 'off') return Promise.resolve();
      // Only success is kept: a failed probe is tried again on the next call.
      available ??= probe(plan(PROBE_COMMAND, [], {})).catch((err: unknown) => {
        available = undefined;
        throw err;
      });
      return available;
    },
  };
}

/** The real path of `executable`; throws `spawn_failed` when the sandbox cannot see it. */
function assertVisible(executable: string, roots: readonly string[], masked: readonly MaskedPath[]): string {
  const real = realOrUndefined(executable) ?? executable;
  const visible = roots.some((root) => isWithin(root, real)) && !masked.some((m) => isWithin(m.path, real));
  if (!visible) {
    throw new InitializeError(
      'spawn_failed',
      `command '${executable}' (${real}) is not visible inside the sandbox: ` +
        'add its directory to MCP_INIT_SANDBOX_PATHS',
    );
  }
  return real;
}

/** Runs PROBE_COMMAND in the sandbox; any failure to do so is `sandbox_unavailable`. */
async function probe(plan: LaunchPlan): Promise<void> {
  const outcome = await new Promise<{ code: number | null; error?: string; stderr: string }>((resolve) => {
    let stderr = '';
    const child = spawn(plan.file, plan.args, {
      env: plan.env,
      stdio: ['ignore', 'ignore', 'pipe', ...(plan.lifeline ? (['pipe'] as const) : [])],
      ...(plan.uid !== undefined && { uid: plan.uid, gid: plan.gid }),
    });
    const lifeline = plan.lifeline ? (child.stdio[LIFELINE_FD] as Duplex) : undefined;
    if (lifeline) {
      answerLifeline(lifeline);
      // Our end stays open until we close it; 'close' below waits for every stdio stream.
      child.once('exit', () => lifeline.destroy());
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-PROBE_STDERR_CHARS);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, error: err.code ?? err.message, stderr });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  if (outcome.code === 0) return;
  const why = outcome.error
    ? `${plan.file} could not be started (${outcome.error}); install bubblewrap (and util-linux for prlimit)`
    : `a test sandbox exited with code ${outcome.code}: ${outcome.stderr.trim() || 'no output'}`;
  throw new InitializeError(
    'sandbox_unavailable',
    `the sandbox (MCP_INIT_SANDBOX=bwrap) cannot start here: ${why}. ` +
      'See docs/security.md for the container settings it needs; nothing was run unconfined.',
  );
}
