/**
 * The open MCP sessions of one HTTP server, by id, for both transports. Every session is
 * removed exactly once — when its client disconnects or deletes it, when it goes idle for
 * longer than `idleMs`, or at shutdown — and closing it closes its transport and its
 * McpServer, so nothing leaks however many sessions come and go.
 */
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/server-metrics.ts';

export type TransportKind = 'streamable-http' | 'sse';
export type CloseReason = 'client' | 'idle' | 'shutdown';

export interface SessionEntry<T> {
  id: string;
  kind: TransportKind;
  transport: T;
  lastActivity: number;
  /** Closes the transport and the server attached to it. */
  close(): Promise<void>;
}

export class SessionRegistry<T> {
  readonly #sessions = new Map<string, SessionEntry<T>>();
  readonly #idleMs: number;
  readonly #logger: Logger;
  readonly #metrics: ServerMetrics;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: { idleMs: number; logger: Logger; metrics: ServerMetrics; sweepEveryMs?: number }) {
    this.#idleMs = options.idleMs;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    const every = options.sweepEveryMs ?? Math.min(Math.max(Math.floor(options.idleMs / 2), 250), 60_000);
    this.#sweeper = setInterval(() => void this.sweepIdle(), every);
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  count(kind: TransportKind): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.kind === kind) n++;
    return n;
  }

  add(entry: SessionEntry<T>): void {
    this.#sessions.set(entry.id, entry);
    this.#metrics.activeSessions.inc({ transport: entry.kind });
    this.#logger.debug({ sessionId: entry.id, transport: entry.kind }, 'session opened');
  }

  /** The session, marked active now. */
  get(id: string, kind: TransportKind): SessionEntry<T> | undefined {
    const entry = this.#sessions.get(id);
    if (!entry || entry.kind !== kind) return undefined;
    entry.lastActivity = Date.now();
    return entry;
  }

  /** Forgets the session and closes it (idempotent). */
  async remove(id: string, reason: CloseReason): Promise<void> {
    const entry = this.#sessions.get(id);
    if (!entry) return;
    this.#sessions.delete(id);
    this.#metrics.activeSessions.dec({ transport: entry.kind });
    this.#metrics.sessionsClosed.inc({ transport: entry.kind, reason });
    this.#logger.debug({ sessionId: id, transport: entry.kind, reason }, 'session closed');
    try {
      await entry.close();
    } catch (err) {
      this.#logger.warn({ err, sessionId: id }, 'error closing session');
    }
  }

  async sweepIdle(now = Date.now()): Promise<number> {
    const idle = [...this.#sessions.values()].filter((s) => now - s.lastActivity > this.#idleMs);
    await Promise.all(idle.map((s) => this.remove(s.id, 'idle')));
    if (idle.length > 0) this.#logger.info({ closed: idle.length }, 'closed idle sessions');
    return idle.length;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.keys()].map((id) => this.remove(id, 'shutdown')));
  }
}
