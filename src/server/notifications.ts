/**
 * Resource change notifications for every connected session. The hub hears each committed
 * note change from the store (any replica's, through PostgreSQL LISTEN/NOTIFY; this
 * process's with SQLite) and tells the sessions:
 * - `notifications/resources/list_changed` to every session when a note was created or
 *   deleted (the listed resources changed);
 * - `notifications/resources/updated` to each session subscribed to `notes://all` or to the
 *   changed note's `notes://{title}`, with the URI the session subscribed with.
 *
 * A Streamable HTTP session whose client has not asked for its GET stream is skipped: nothing
 * sent outside a request can reach it (standalone-stream.ts).
 *
 * Changes are gathered for one event-loop turn and sent once per session and URI, so a burst
 * of writes costs each session one message, not one per write; the request path does no work
 * for it. Lookups go through an index by subscription key, so a change costs the sessions that
 * care, plus one list_changed per session when the list changed.
 */
import type { NoteChange } from '../notes/store.ts';
import type { Logger } from '../observability/logger.ts';

/** What the hub needs of a session: its McpServer's two notifications. */
export interface NotifiedSession {
  sendResourceListChanged(): Promise<void> | void;
  sendResourceUpdated(uri: string): Promise<void> | void;
  /** False while nothing sent can reach the client (see standalone-stream.ts); default true. */
  reachable?(): boolean;
}

/** The subscription key of `notes://all`; a note's key is its title. */
export const ALL_NOTES = Symbol('notes://all');
export type SubscriptionKey = string | typeof ALL_NOTES;

export const MAX_SUBSCRIPTIONS_PER_SESSION = 1_000;

interface SessionState {
  session: NotifiedSession;
  /** Subscription key → the URI as the client wrote it. */
  subscriptions: Map<SubscriptionKey, string>;
}

export class ResourceChangeHub {
  readonly #sessions = new Set<SessionState>();
  readonly #subscribers = new Map<SubscriptionKey, Set<SessionState>>();
  readonly #logger: Logger;
  #pending: NoteChange[] = [];
  #flushScheduled = false;

  constructor(options: { logger: Logger }) {
    this.#logger = options.logger;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Adds a session; the returned handle subscribes it and detaches it when it closes. */
  attach(session: NotifiedSession): SessionSubscriptions {
    const state: SessionState = { session, subscriptions: new Map() };
    this.#sessions.add(state);
    return {
      subscribe: (key, uri) => {
        if (!state.subscriptions.has(key) && state.subscriptions.size >= MAX_SUBSCRIPTIONS_PER_SESSION) {
          return false;
        }
        state.subscriptions.set(key, uri);
        const set = this.#subscribers.get(key) ?? new Set<SessionState>();
        this.#subscribers.set(key, set);
        set.add(state);
        return true;
      },
      unsubscribe: (key) => {
        state.subscriptions.delete(key);
        this.#unindex(key, state);
      },
      detach: () => {
        this.#sessions.delete(state);
        for (const key of state.subscriptions.keys()) this.#unindex(key, state);
        state.subscriptions.clear();
      },
    };
  }

  /** The store's change listener. */
  readonly noteChanged = (change: NoteChange): void => {
    this.#pending.push(change);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  };

  #unindex(key: SubscriptionKey, state: SessionState): void {
    const set = this.#subscribers.get(key);
    set?.delete(state);
    if (set?.size === 0) this.#subscribers.delete(key);
  }

  #flush(): void {
    const changes = this.#pending;
    this.#pending = [];
    this.#flushScheduled = false;
    if (this.#sessions.size === 0) return;

    let listChanged = false;
    let resync = false;
    const titles = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'resync') resync = true;
      else titles.add(change.title);
      if (change.kind !== 'updated') listChanged = true;
    }

    if (listChanged) {
      for (const { session } of this.#sessions)
        if (session.reachable?.() !== false) this.#send(() => session.sendResourceListChanged());
    }

    // Each session once per URI, whether it subscribed to the note, to notes://all, or both.
    const updated = new Map<SessionState, Set<string>>();
    const mark = (state: SessionState, key: SubscriptionKey) => {
      const uri = state.subscriptions.get(key);
      if (uri === undefined) return;
      const uris = updated.get(state) ?? new Set<string>();
      updated.set(state, uris);
      uris.add(uri);
    };
    if (resync) {
      for (const state of this.#sessions) for (const key of state.subscriptions.keys()) mark(state, key);
    } else {
      for (const state of this.#subscribers.get(ALL_NOTES) ?? []) mark(state, ALL_NOTES);
      for (const title of titles) for (const state of this.#subscribers.get(title) ?? []) mark(state, title);
    }
    for (const [state, uris] of updated) {
      if (state.session.reachable?.() === false) continue;
      for (const uri of uris) this.#send(() => state.session.sendResourceUpdated(uri));
    }
  }

  #send(notify: () => Promise<void> | void): void {
    try {
      Promise.resolve(notify()).catch((err: unknown) => this.#dropped(err));
    } catch (err) {
      this.#dropped(err);
    }
  }

  #dropped(err: unknown): void {
    // A session whose transport just closed; it is about to be detached.
    this.#logger.debug({ err: { message: (err as Error)?.message } }, 'resource notification not delivered');
  }
}

export interface SessionSubscriptions {
  /** False when the session already holds MAX_SUBSCRIPTIONS_PER_SESSION other subscriptions. */
  subscribe(key: SubscriptionKey, uri: string): boolean;
  unsubscribe(key: SubscriptionKey): void;
  detach(): void;
}
