/**
 * Note changes across PostgreSQL replicas. The store's writes `NOTIFY notes_changed` in the
 * same statement (PostgreSQL delivers it at commit, to every listening session, this replica's
 * included), and one dedicated connection per store LISTENs and hands each change to the
 * listeners — so a change made through any replica reaches the listeners of all of them.
 *
 * The channel is database-wide, so each payload names the schema of the notes table it
 * changed and a feed hears only its own schema's changes.
 *
 * The connection opens with the first listener and is reopened with backoff when lost; after
 * a reconnect the listeners get `resync`, because changes committed while it was down were
 * not heard. The connection URL is never logged.
 */
import pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import { NoteChangeListeners } from './change-listeners.ts';
import type { NoteChange, NoteChangeListener } from './store.ts';

export const NOTES_CHANNEL = 'notes_changed';

/**
 * NOTIFY payloads must stay under 8000 bytes; a change to a note whose title is longer than
 * this is announced as `resync` (the tools cap titles at 200 characters, far below it).
 */
export const NOTIFY_TITLE_MAX_BYTES = 4_000;

const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 10_000;

/** The payload a write sends: its title, or null when too long to carry (see NOTIFY_TITLE_MAX_BYTES). */
export function notifyTitle(title: string): string | null {
  return Buffer.byteLength(title, 'utf8') <= NOTIFY_TITLE_MAX_BYTES ? title : null;
}

/** The change a payload announces, `undefined` when it is another schema's, `resync` when unreadable. */
export function parseChangePayload(payload: string | undefined, schema: string): NoteChange | undefined {
  try {
    const parsed = JSON.parse(payload ?? '') as { kind?: unknown; title?: unknown; schema?: unknown };
    if (typeof parsed.schema === 'string' && parsed.schema !== schema) return undefined;
    if (
      (parsed.kind === 'created' || parsed.kind === 'updated' || parsed.kind === 'deleted') &&
      typeof parsed.title === 'string'
    ) {
      return { kind: parsed.kind, title: parsed.title };
    }
  } catch {
    // Not ours or not JSON: fall through to a resync, which is always safe.
  }
  return { kind: 'resync' };
}

export class PgChangeFeed {
  readonly #url: string;
  readonly #logger: Logger;
  readonly #listeners: NoteChangeListeners;
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RECONNECT_FIRST_MS;
  #closed = false;

  constructor(options: { url: string; logger: Logger }) {
    this.#url = options.url;
    this.#logger = options.logger;
    this.#listeners = new NoteChangeListeners(options.logger);
  }

  async watch(listener: NoteChangeListener): Promise<() => void> {
    if (this.#closed) throw new Error('notes store is closed');
    const remove = this.#listeners.add(listener);
    try {
      await this.#listen();
    } catch (err) {
      remove();
      throw err;
    }
    return remove;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#listeners.clear();
    // A connect in flight sees #closed and ends its own client.
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  #listen(): Promise<void> {
    this.#connecting ??= this.#connect().catch((err: unknown) => {
      this.#connecting = undefined;
      throw err;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: 'mcp-hybrid-notes-listen',
      connectionTimeoutMillis: 10_000,
    });
    let schema = '';
    client.on('notification', (message) => {
      if (message.channel !== NOTES_CHANNEL) return;
      const change = parseChangePayload(message.payload, schema);
      if (change) this.#listeners.emit(change);
    });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
      schema = rows[0]?.schema ?? '';
      await client.query(`LISTEN ${NOTES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  #lost(client: pg.Client, err?: Error): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    this.#connecting = undefined;
    this.#logger.warn(
      { err: err && { message: err.message }, retryInMs: this.#retryMs },
      'note change feed connection lost; reconnecting',
    );
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#listen().then(
        () => {
          this.#retryMs = RECONNECT_FIRST_MS;
          this.#logger.info('note change feed reconnected');
          this.#listeners.emit({ kind: 'resync' });
        },
        (err: unknown) => {
          this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
          this.#logger.warn(
            { err: { message: (err as Error).message }, retryInMs: this.#retryMs },
            'note change feed reconnect failed',
          );
          if (!this.#closed) this.#scheduleReconnect();
        },
      );
    }, this.#retryMs);
    this.#retryTimer.unref();
  }
}
