/**
 * server_initialize: start one stdio MCP server from an `mcpServers` entry, talk to it
 * just long enough to learn what it offers, record that in the catalog, and stop it.
 *
 * Invariants:
 * - only an allowed program runs (exact match; see allowlist.ts), with argv and no shell;
 * - it runs inside the sandbox (sandbox.ts) unless the operator turned it off; when the
 *   sandbox cannot start, nothing runs (`sandbox_unavailable`);
 * - the child gets PATH and HOME plus the request's env/envFile minus the denylisted hooks,
 *   nothing else of ours;
 * - at most `maxConcurrent` children run at once; a call waits for a slot at most `timeoutMs`
 *   (then `busy`); spawn, handshake and listing together take at most `timeoutMs`; stopping
 *   adds at most the kill grace;
 * - the child's whole stdout is bounded by `maxListingBytes` (`listing_too_large`, nothing
 *   cataloged but the failure);
 * - whatever happens, the child and its process group are gone before `initialize` settles,
 *   and `close()` stops every child still running;
 * - every outcome but a cancellation is recorded in the catalog; logs carry the name,
 *   command, args, duration and outcome, never env values — and the child's output quoted
 *   in an error has the request's env values and the server's secrets masked.
 */
import type { CatalogEntry, NotesStore } from '../../notes/store.ts';
import type { Logger } from '../../observability/logger.ts';
import { VERSION } from '../../version.ts';
import { resolveAllowedCommand } from './allowlist.ts';
import { type BaseEnv, buildChildEnv } from './child-env.ts';
import { readEnvFile } from './env-file.ts';
import { InitializeError } from './errors.ts';
import { type HandshakeResult, handshakeAndList } from './handshake.ts';
import { type RedactOptions, redactValues } from './output-tail.ts';
import type { LaunchPlan } from './sandbox.ts';
import type { SandboxRuntime } from './sandbox-host.ts';
import type { McpServerEntry } from './schema.ts';
import { type ExitStatus, ServerProcess } from './server-process.ts';
import { Slots } from './slots.ts';
import { ChildStdioTransport } from './stdio-transport.ts';

export { InitializeError, type InitializeFailureReason } from './errors.ts';

/**
 * The steps of one initialize as they happen, for progress and client log messages. They
 * name the command and what the child said about itself — never args or env values.
 */
export type InitializeStage =
  | { stage: 'allowed'; command: string }
  | { stage: 'spawned' }
  | { stage: 'handshake'; serverInfo: { name: string; version: string }; protocolVersion: string }
  | { stage: 'listed'; tools: number };
export type OnInitializeStage = (event: InitializeStage) => void;

export interface ServerInitializerOptions {
  allowedCommands: string[];
  envDir?: string;
  /** Bound on spawn + handshake + listing. */
  timeoutMs: number;
  /** The only variables of ours a child inherits. */
  baseEnv: BaseEnv;
  logger: Logger;
  catalog: Pick<NotesStore, 'upsertCatalogEntry'>;
  /** How long a stopping child's process group gets between SIGTERM and SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** Where and how children run (sandbox-host.ts). */
  sandbox: SandboxRuntime;
  /** Children running at once at most (default 4). */
  maxConcurrent?: number;
  /** Bytes of stdout (handshake + every listing page) a child may send (default 1 MiB). */
  maxListingBytes?: number;
  /** Values of ours (auth token, database URL) masked in any child output we quote. */
  secrets?: readonly string[];
}

type Redact = (text: string, options?: RedactOptions) => string;

interface ConverseOptions {
  redact: Redact;
  /** MCP_INIT_MEMORY_MB (0 = none), named in the error of a child that ran out of memory. */
  memoryMb: number;
  /** Bytes of stdout the child may send in all (MCP_INIT_MAX_LISTING_BYTES). */
  maxListingBytes: number;
  onStage: OnInitializeStage;
}

interface Timing {
  /** When the outcome was known, before the child was stopped. */
  outcomeAt?: number;
}

const CLIENT_INFO = { name: 'mcp-hybrid-server-initialize', version: VERSION };
const DEFAULT_KILL_GRACE_MS = 2_000;
export const DEFAULT_MAX_CONCURRENT = 4;
export const DEFAULT_MAX_LISTING_BYTES = 1024 * 1024;
/** After a successful listing the child gets this long (at most) to exit on stdin EOF before SIGTERM. */
const GRACEFUL_EXIT_MS = 1_000;
/** A lost connection is reported only if no exit, timeout or bad output explains it within this time. */
const EXPLAIN_FAILURE_MS = 500;
/** How long an exited child's stderr may take to drain into the error message. */
const STDERR_SETTLE_MS = 200;
const STDERR_IN_MESSAGE_CHARS = 2_000;
/** Characters of a child's non-JSON-RPC stdout quoted in the error. */
export const EXCERPT_CHARS = 200;
/** What programs print when an allocation fails (as it does at the MCP_INIT_MEMORY_MB limit). */
const OUT_OF_MEMORY =
  /MemoryError|out of memory|OutOfMemory|allocation failed|memory allocation of \d+ bytes failed|Cannot allocate memory|ENOMEM|bad_alloc/i;

export class ServerInitializer {
  readonly #options: ServerInitializerOptions;
  readonly #killGraceMs: number;
  readonly #children = new Set<ServerProcess>();
  readonly #sessions = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  readonly #slots: Slots;

  constructor(options: ServerInitializerOptions) {
    this.#options = options;
    this.#killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#slots = new Slots(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  }

  /** Calls waiting for a slot (MCP_INIT_MAX_CONCURRENT). */
  get queuedCalls(): number {
    return this.#slots.waiting;
  }

  /** Children spawned and not yet confirmed gone. */
  get activeChildren(): number {
    return this.#children.size;
  }

  /**
   * Resolves with the 'ready' catalog entry (already recorded). Throws InitializeError after
   * recording a 'failed' entry — except for 'aborted', which says nothing about the server.
   */
  async initialize(
    name: string,
    entry: McpServerEntry,
    options: { signal?: AbortSignal; onStage?: OnInitializeStage } = {},
  ): Promise<CatalogEntry> {
    const started = performance.now();
    const args = entry.args ?? [];
    const logger = this.#options.logger.child({ server: name });
    const base = { name, command: entry.command, args };
    logger.debug({ command: entry.command, args }, 'server_initialize starting');

    // durationMs measures spawn to outcome; stopping the child afterwards is not counted.
    const timing: Timing = {};
    const elapsed = () => Math.round((timing.outcomeAt ?? performance.now()) - started);
    let result: HandshakeResult;
    try {
      result = await this.#initialize(entry, args, options.signal, timing, stageReporter(options.onStage));
    } catch (err) {
      const durationMs = elapsed();
      const failure =
        err instanceof InitializeError
          ? err
          : new InitializeError('spawn_failed', err instanceof Error ? err.message : String(err), {
              cause: err,
            });
      logger.warn(
        {
          command: entry.command,
          args,
          durationMs,
          outcome: 'failed',
          reason: failure.reason,
          error: failure.message,
        },
        'server_initialize failed',
      );
      if (failure.reason !== 'aborted') {
        const failed: CatalogEntry = {
          ...base,
          status: 'failed',
          tools: [],
          durationMs,
          error: `${failure.reason}: ${failure.message}`,
          initializedAt: new Date().toISOString(),
        };
        await this.#options.catalog.upsertCatalogEntry(failed).catch((catalogError: unknown) => {
          logger.error({ err: catalogError }, 'server_initialize could not record a failure in the catalog');
        });
      }
      throw failure;
    }

    const ready: CatalogEntry = {
      ...base,
      status: 'ready',
      ...result,
      durationMs: elapsed(),
      initializedAt: new Date().toISOString(),
    };
    await this.#options.catalog.upsertCatalogEntry(ready);
    stageReporter(options.onStage)({ stage: 'listed', tools: ready.tools.length });
    logger.info(
      {
        command: entry.command,
        args,
        durationMs: ready.durationMs,
        outcome: 'ready',
        protocolVersion: ready.protocolVersion,
        tools: ready.tools.length,
      },
      'server_initialize succeeded',
    );
    return ready;
  }

  /** Stops every child still running (their initialize calls fail with 'aborted') and waits for them. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all([...this.#children].map((child) => child.stop()));
    await Promise.allSettled([...this.#sessions]);
  }

  async #initialize(
    entry: McpServerEntry,
    args: string[],
    signal: AbortSignal | undefined,
    timing: Timing,
    onStage: OnInitializeStage,
  ) {
    this.#throwIfCancelled(signal);
    const { allowedCommands, envDir, baseEnv, sandbox } = this.#options;
    const executable = await resolveAllowedCommand(entry.command, allowedCommands, baseEnv.PATH);
    const fileEnv = entry.envFile === undefined ? {} : await readEnvFile(entry.envFile, envDir);
    const env = buildChildEnv(baseEnv, fileEnv, entry.env);
    const plan = sandbox.plan(executable, args, env);
    await sandbox.ensureAvailable();
    this.#throwIfCancelled(signal);
    onStage({ stage: 'allowed', command: entry.command });

    const secrets = [
      ...Object.values(fileEnv),
      ...Object.values(entry.env ?? {}),
      ...(this.#options.secrets ?? []),
    ];
    const redact: Redact = (text, redactOptions) => redactValues(text, secrets, redactOptions);
    const release = await this.#waitForSlot(signal);
    const session = this.#runChild(plan, signal, timing, redact, onStage);
    this.#sessions.add(session);
    try {
      return await session;
    } finally {
      this.#sessions.delete(session);
      release();
    }
  }

  /** A slot among `maxConcurrent`, waited for at most `timeoutMs` (then `busy`). */
  async #waitForSlot(signal: AbortSignal | undefined): Promise<() => void> {
    const { timeoutMs } = this.#options;
    const limit = this.#options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
    const waited = new AbortController();
    const timer = setTimeout(
      () =>
        waited.abort(
          new InitializeError(
            'busy',
            `${limit} server initializations (MCP_INIT_MAX_CONCURRENT) were running for all of ${timeoutMs} ms; try again later`,
          ),
        ),
      timeoutMs,
    );
    const onCancel = () => waited.abort(new InitializeError('aborted', 'the request was cancelled'));
    const onClosing = () => waited.abort(new InitializeError('aborted', 'the server is shutting down'));
    signal?.addEventListener('abort', onCancel, { once: true });
    this.#closing.signal.addEventListener('abort', onClosing, { once: true });
    try {
      return await this.#slots.acquire(waited.signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
      this.#closing.signal.removeEventListener('abort', onClosing);
    }
  }

  #throwIfCancelled(signal: AbortSignal | undefined): void {
    if (this.#closing.signal.aborted) throw new InitializeError('aborted', 'the server is shutting down');
    if (signal?.aborted) throw new InitializeError('aborted', 'the request was cancelled');
  }

  /** Spawns the child, converses with it under the deadline, and always stops it. */
  async #runChild(
    plan: LaunchPlan,
    signal: AbortSignal | undefined,
    timing: Timing,
    redact: Redact,
    onStage: OnInitializeStage,
  ): Promise<HandshakeResult> {
    let child: ServerProcess;
    try {
      child = new ServerProcess({ ...plan, executable: plan.file, killGraceMs: this.#killGraceMs });
    } catch (err) {
      // spawn() itself throws for arguments the OS cannot take.
      throw new InitializeError('spawn_failed', `command could not be started: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#children.add(child);

    const { timeoutMs } = this.#options;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort(
        new InitializeError(
          'timeout',
          `no MCP handshake and listing within ${timeoutMs} ms${stderrPart(child, redact)}`,
        ),
      );
    }, timeoutMs);
    const onCancel = () => deadline.abort(new InitializeError('aborted', 'the request was cancelled'));
    const onClosing = () => deadline.abort(new InitializeError('aborted', 'the server is shutting down'));
    signal?.addEventListener('abort', onCancel, { once: true });
    this.#closing.signal.addEventListener('abort', onClosing, { once: true });
    // A listener added to an already-aborted signal never fires.
    if (this.#closing.signal.aborted) onClosing();
    else if (signal?.aborted) onCancel();

    let succeeded = false;
    try {
      const maxListingBytes = this.#options.maxListingBytes ?? DEFAULT_MAX_LISTING_BYTES;
      const memoryMb = this.#options.sandbox.settings.memoryMb;
      const result = await converse(child, deadline.signal, { redact, memoryMb, maxListingBytes, onStage });
      succeeded = true;
      return result;
    } finally {
      timing.outcomeAt = performance.now();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
      this.#closing.signal.removeEventListener('abort', onClosing);
      await child.stop({ gracefulMs: succeeded ? Math.min(GRACEFUL_EXIT_MS, this.#killGraceMs) : 0 });
      this.#children.delete(child);
    }
  }
}

/**
 * The handshake and listing, raced against everything that ends them early: the deadline
 * (timeout, cancellation, shutdown), a failed spawn, non-JSON-RPC output and the child's exit.
 */
async function converse(
  child: ServerProcess,
  signal: AbortSignal,
  { redact, memoryMb, maxListingBytes, onStage }: ConverseOptions,
): Promise<HandshakeResult> {
  let fail: (error: InitializeError) => void = () => {};
  const failure = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failure.catch(() => {});

  const onAbort = () => fail(signal.reason as InitializeError);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  child.started.catch(fail);
  void child.exited.then(async (status) => {
    await child.stderrSettled(STDERR_SETTLE_MS);
    fail(exitFailure(status, child, redact, memoryMb));
  });

  const transport = new ChildStdioTransport(child.child.stdin, child.child.stdout, {
    maxTotalBytes: maxListingBytes,
  });
  transport.onOutputLimit = (limit) =>
    fail(
      new InitializeError(
        'listing_too_large',
        `the server's handshake and listing passed ${limit} bytes (MCP_INIT_MAX_LISTING_BYTES); nothing was cataloged`,
      ),
    );
  transport.onInvalidOutput = (output, error) =>
    fail(
      new InitializeError(
        'not_mcp',
        `not an MCP server: it wrote something other than JSON-RPC to stdout: ${JSON.stringify(excerpt(output, redact))} ` +
          `(${redact(error.message.split('\n')[0] ?? '')})${stderrPart(child, redact)}`,
      ),
    );

  try {
    await Promise.race([child.started, failure]);
    onStage({ stage: 'spawned' });
    const conversation = handshakeAndList(transport, signal, CLIENT_INFO, (serverInfo, protocolVersion) =>
      onStage({ stage: 'handshake', serverInfo, protocolVersion }),
    ).catch(async (err: unknown) => {
      await new Promise((resolve) => setTimeout(resolve, EXPLAIN_FAILURE_MS));
      throw new InitializeError(
        'not_mcp',
        `did not complete the MCP handshake and listing: ${redact(err instanceof Error ? err.message : String(err))}` +
          stderrPart(child, redact),
        { cause: err },
      );
    });
    conversation.catch(() => {});
    return await Promise.race([conversation, failure]);
  } finally {
    signal.removeEventListener('abort', onAbort);
    await transport.close();
  }
}

/** The caller's stage listener, made safe: a throwing listener cannot break an initialize. */
function stageReporter(onStage: OnInitializeStage | undefined): OnInitializeStage {
  return (event) => {
    try {
      onStage?.(event);
    } catch {
      // Progress is best effort.
    }
  };
}

function exitFailure(
  status: ExitStatus,
  child: ServerProcess,
  redact: Redact,
  memoryMb: number,
): InitializeError {
  const how = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
  // Only a guess from its last words, so it is said as the likely cause, not as the verdict.
  const outOfMemory =
    status.code !== 0 && memoryMb > 0 && OUT_OF_MEMORY.test(child.stderr.text())
      ? `; it ran out of memory: each of its processes may use at most ${memoryMb} MiB (MCP_INIT_MEMORY_MB)`
      : '';
  return new InitializeError(
    status.code === 0 ? 'not_mcp' : 'crashed',
    `the server ${how} before the MCP handshake and listing completed${outOfMemory}` +
      (stderrPart(child, redact) || '; no stderr output'),
  );
}

/** The start of a child's offending output, masked before it is cut (a cut value would not match). */
function excerpt(output: string, redact: Redact): string {
  const text = redact(output);
  return text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text;
}

function stderrPart(child: ServerProcess, redact: Redact): string {
  const text = child.stderr.text(redact);
  if (text === '') return '';
  const tail = text.length > STDERR_IN_MESSAGE_CHARS ? `…${text.slice(-STDERR_IN_MESSAGE_CHARS)}` : text;
  return `; stderr: ${tail}`;
}
