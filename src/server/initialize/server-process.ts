/**
 * One spawned stdio server and everything it starts. The child runs without a shell, in a
 * process group of its own (detached: a new session on POSIX), so stopping it reaches the
 * whole tree — `npx` and the node process it launches, a Python wrapper and its worker —
 * with SIGTERM to the group, then SIGKILL after a grace period. `stop()` resolves only
 * once the child has exited and its group is gone (or has been SIGKILLed), and it is safe
 * to call more than once. Its stderr is kept as a bounded tail for error messages.
 *
 * A descendant that moves itself into another process group or session escapes the group
 * signal; the sandbox's PID namespace catches it (see sandbox.ts). Unsandboxed, it escapes.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { InitializeError } from './errors.ts';
import { answerLifeline, LIFELINE_FD } from './lifeline.ts';
import { OutputTail } from './output-tail.ts';
import { groupHasLiveMembers, signalGroup } from './process-group.ts';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcessOptions {
  /** The file to execute (already checked against the allowlist). */
  executable: string;
  args: readonly string[];
  /** The child's complete environment. */
  env: Record<string, string>;
  /** Run as this user and group (the sandbox's, when the server is root). */
  uid?: number;
  gid?: number;
  /** How long a SIGTERMed process group gets before SIGKILL. */
  killGraceMs: number;
  /** The sandbox's lifeline is stdio entry LIFELINE_FD (lifeline.ts); it is answered and held open until stop. */
  lifeline?: boolean;
  stderrTailBytes?: number;
}

const USE_PROCESS_GROUP = process.platform !== 'win32';
const POLL_MS = 25;
/** After SIGKILL, how long to wait for the kernel (and init, for orphans) to clear the group. */
const AFTER_KILL_WAIT_MS = 2_000;

/** `promise`, or undefined after `ms`; the timer is cleared either way. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class ServerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stderr: OutputTail;
  /** Resolves once the program is running; rejects with `spawn_failed` if it could not be started. */
  readonly started: Promise<void>;
  /** Resolves when the child exits (or at once with nulls if it never started). */
  readonly exited: Promise<ExitStatus>;
  readonly #killGraceMs: number;
  readonly #stderrEnded: Promise<void>;
  readonly #lifeline: Duplex | undefined;
  #exitStatus: ExitStatus | undefined;
  #groupGone = false;
  #stopping: Promise<void> | undefined;

  constructor(options: ServerProcessOptions) {
    this.#killGraceMs = options.killGraceMs;
    this.stderr = new OutputTail(options.stderrTailBytes);
    this.child = spawn(options.executable, [...options.args], {
      env: options.env,
      stdio: Array<'pipe'>(options.lifeline ? LIFELINE_FD + 1 : 3).fill('pipe'),
      shell: false,
      detached: USE_PROCESS_GROUP,
      windowsHide: true,
      ...(options.uid !== undefined && { uid: options.uid }),
      ...(options.gid !== undefined && { gid: options.gid }),
    }) as ChildProcessWithoutNullStreams;
    const child = this.child;
    this.#lifeline = options.lifeline ? (child.stdio[LIFELINE_FD] as Duplex) : undefined;
    if (this.#lifeline) answerLifeline(this.#lifeline);
    // Broken pipes to a dying child surface as stream errors; they are expected, not fatal.
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream.on('error', () => {});
    child.stderr.on('data', (chunk: Buffer) => this.stderr.append(chunk));
    this.#stderrEnded = new Promise((resolve) => {
      child.stderr.once('close', resolve);
      child.stderr.once('end', resolve);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitStatus = { code, signal };
        resolve(this.#exitStatus);
      });
      child.once('error', () => {
        // 'exit' never follows a failed spawn.
        if (child.pid === undefined) {
          this.#exitStatus = { code: null, signal: null };
          this.#groupGone = true;
          resolve(this.#exitStatus);
        }
      });
    });
    this.started = new Promise((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return;
        const what =
          err.code === 'ENOENT' ? 'was not found' : `could not be started (${err.code ?? err.message})`;
        reject(
          new InitializeError('spawn_failed', `command '${options.executable}' ${what}`, { cause: err }),
        );
      });
    });
    this.started.catch(() => {});
    // Later errors (a failed kill) must not crash the server.
    child.on('error', () => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.#exitStatus !== undefined;
  }

  /** Waits (up to `ms`) for the child's stderr to end, so an exit's last words are in the tail. */
  async stderrSettled(ms: number): Promise<void> {
    await within(this.#stderrEnded, ms);
  }

  /**
   * Stops the child and its process group. With `gracefulMs`, the child's stdin is closed
   * first and it gets that long to exit by itself (the MCP stdio shutdown sequence).
   */
  stop(options: { gracefulMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.gracefulMs ?? 0);
    return this.#stopping;
  }

  async #stop(gracefulMs: number): Promise<void> {
    if (this.pid === undefined) return;
    if (gracefulMs > 0 && !this.hasExited) {
      this.child.stdin.end();
      await within(this.exited, gracefulMs);
    }
    // Signal the group even when the leader is gone: a grandchild may still be in it.
    if (!this.#isGone()) {
      this.#signal('SIGTERM');
      if (!(await this.#waitGone(this.#killGraceMs))) {
        this.#signal('SIGKILL');
        await this.#waitGone(AFTER_KILL_WAIT_MS);
      }
    }
    await within(this.exited, AFTER_KILL_WAIT_MS);
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) stream.destroy();
    this.#lifeline?.destroy();
  }

  /** The child has exited and no live process of its group is left. */
  #isGone(): boolean {
    if (!this.hasExited) return false;
    if (!USE_PROCESS_GROUP || this.#groupGone) return true;
    // Once gone, the group id is never signalled again: the number may be reused.
    if (!groupHasLiveMembers(this.pid!)) this.#groupGone = true;
    return this.#groupGone;
  }

  async #waitGone(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.#isGone()) {
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return true;
  }

  #signal(signal: NodeJS.Signals): void {
    if (USE_PROCESS_GROUP && !this.#groupGone && signalGroup(this.pid!, signal)) return;
    if (!this.hasExited) this.child.kill(signal);
  }
}
