/**
 * The shared notes store: PostgreSQL through a `pg` pool, for several server replicas.
 *
 * The schema is created on open under a transaction-level advisory lock, so replicas
 * starting together migrate once and in turn. Titles and listing order use the `C`
 * collation (code point order, as SQLite's BINARY), so both backends list identically.
 *
 * Search: each note also stores its title and content folded in JavaScript (see
 * search.ts), with `pg_trgm` GIN indexes on those columns; a search is a case-sensitive
 * `LIKE '%folded keyword%'` on them, which the trigram indexes serve for keywords of 3+
 * characters and which does not depend on the database's locale.
 *
 * Title completion: a btree index on (title_folded, title) serves a prefix as a range.
 *
 * Change feed: saveNote and deleteNote NOTIFY `notes_changed` in the statement that writes
 * (see pg-change-feed.ts), so every replica's listeners hear every change at commit.
 *
 * The connection URL is never logged: it may carry a password.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import { POSTGRES_TASKS_MIGRATION, type TaskRecordStore, type TaskRow } from '../tasks/records.ts';
import { SqlTaskRecords } from '../tasks/sql-records.ts';
import { clampCompletionLimit, clampLimit, decodeCursor, encodeCursor } from './cursor.ts';
import { NOTES_CHANNEL, notifyTitle, PgChangeFeed } from './pg-change-feed.ts';
import { survivePgConnectionLoss } from './pg-connection-loss.ts';
import { foldForSearch, likeContainsPattern, prefixRange } from './search.ts';
import type {
  CatalogEntry,
  IdempotentResult,
  Note,
  NoteChangeListener,
  NoteSummary,
  NotesExport,
  NotesPage,
  NotesStore,
  SearchResult,
  TitleCompletion,
} from './store.ts';
import { assertStorableText, idempotentResultFromRow } from './store.ts';

export interface PostgresNotesStoreOptions {
  url: string;
  logger: Logger;
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

/** pg_advisory_xact_lock key serialising schema changes across replicas ("mcp-note"). */
const SCHEMA_LOCK_KEY = 0x6d63_702d_6e6f_7465n;

/** Schema steps, applied in order; `notes_schema_version` records how many ran. */
const MIGRATIONS: string[] = [
  `
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE TABLE notes (
    title text COLLATE "C" PRIMARY KEY,
    content text NOT NULL,
    title_folded text COLLATE "C" NOT NULL,
    content_folded text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
  );
  CREATE INDEX notes_listing ON notes (created_at DESC, title ASC);
  CREATE INDEX notes_title_trgm ON notes USING gin (title_folded gin_trgm_ops);
  CREATE INDEX notes_content_trgm ON notes USING gin (content_folded gin_trgm_ops);
  CREATE TABLE catalog (
    name text COLLATE "C" PRIMARY KEY,
    entry text NOT NULL,
    updated_at timestamptz NOT NULL
  );
  CREATE TABLE idempotency (
    key text PRIMARY KEY,
    tool text NOT NULL,
    result text NOT NULL,
    recorded_at timestamptz NOT NULL
  );
  CREATE INDEX idempotency_recorded ON idempotency (recorded_at);
  `,
  // The request a key was first used for: a reuse with other arguments is refused.
  `ALTER TABLE idempotency ADD COLUMN fingerprint text;`,
  // Title completion: a case-insensitive prefix is a range over the folded title.
  `
  CREATE INDEX notes_title_prefix ON notes (title_folded, title);
  `,
  // MCP tasks (src/tasks/records.ts).
  POSTGRES_TASKS_MIGRATION,
];

export const POSTGRES_SEARCH_SQL = `
  SELECT title, created_at, updated_at FROM notes
  WHERE title_folded LIKE $1 OR content_folded LIKE $1
  ORDER BY created_at DESC, title ASC
  LIMIT $2`;

/** Title completion: an index range over the folded title (see prefixRange). */
export const POSTGRES_COMPLETE_SQL = `
  SELECT title FROM notes WHERE title_folded >= $1 AND ($2::text IS NULL OR title_folded < $2)
  ORDER BY title_folded, title LIMIT $3`;
const COMPLETE_COUNT_SQL = `
  SELECT count(*) AS n FROM notes WHERE title_folded >= $1 AND ($2::text IS NULL OR title_folded < $2)`;

const SAVE_SQL = `
  WITH saved AS (
    INSERT INTO notes (title, content, title_folded, content_folded, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (title) DO UPDATE SET
      content = EXCLUDED.content,
      content_folded = EXCLUDED.content_folded,
      updated_at = GREATEST(EXCLUDED.updated_at, notes.created_at, notes.updated_at)
    RETURNING created_at, updated_at, (xmax = 0) AS created
  )
  SELECT created_at, updated_at, created,
    pg_notify('${NOTES_CHANNEL}', json_build_object(
      'kind', CASE WHEN created THEN 'created' ELSE 'updated' END, 'title', $6::text,
      'schema', current_schema())::text)
  FROM saved`;

const DELETE_SQL = `
  WITH gone AS (DELETE FROM notes WHERE title = $1 RETURNING title)
  SELECT pg_notify('${NOTES_CHANNEL}', json_build_object(
    'kind', 'deleted', 'title', $2::text, 'schema', current_schema())::text)
  FROM gone`;

const LIST_FIRST_SQL = `
  SELECT title, created_at, updated_at FROM notes
  ORDER BY created_at DESC, title ASC LIMIT $1`;
const LIST_AFTER_SQL = `
  SELECT title, created_at, updated_at FROM notes
  WHERE created_at <= $1 AND (created_at < $1 OR title > $2)
  ORDER BY created_at DESC, title ASC LIMIT $3`;

interface SummaryRow {
  title: string;
  created_at: Date;
  updated_at: Date;
}
interface NoteRow extends SummaryRow {
  content: string;
}

const iso = (d: Date) => d.toISOString();
const toSummary = (r: SummaryRow): NoteSummary => ({
  title: r.title,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});
const toNote = (r: NoteRow): Note => ({ ...toSummary(r), content: r.content });

const EXPORT_SCAN_BATCH = 1_000;

export async function openPostgresNotesStore(options: PostgresNotesStoreOptions): Promise<NotesStore> {
  const { logger } = options;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: 'mcp-hybrid-notes',
    connectionTimeoutMillis: 10_000,
  });
  survivePgConnectionLoss(pool, logger);
  try {
    await migrate(pool, logger);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  logger.info({ backend: 'postgres', poolSize: options.poolSize ?? 10 }, 'notes store opened');
  return new PostgresNotesStore(pool, logger, new PgChangeFeed({ url: options.url, logger }));
}

async function migrate(pool: pg.Pool, logger: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY.toString()]);
    await client.query('CREATE TABLE IF NOT EXISTS notes_schema_version (version integer NOT NULL)');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM notes_schema_version');
    let version = rows[0]?.version ?? 0;
    if (rows.length === 0) await client.query('INSERT INTO notes_schema_version (version) VALUES (0)');
    if (version > MIGRATIONS.length) {
      throw new Error(
        `notes database schema version ${version} is newer than this server supports (${MIGRATIONS.length})`,
      );
    }
    while (version < MIGRATIONS.length) {
      await client.query(MIGRATIONS[version]!);
      version++;
      await client.query('UPDATE notes_schema_version SET version = $1', [version]);
      logger.info({ backend: 'postgres', schemaVersion: version }, 'notes schema migrated');
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

class PostgresNotesStore implements NotesStore {
  readonly backend = 'postgres' as const;
  readonly #pool: pg.Pool;
  /** The client of the transaction `atomically()` runs, for the store calls made inside it. */
  readonly #transaction = new AsyncLocalStorage<pg.PoolClient>();
  readonly #logger: Logger;
  readonly #changes: PgChangeFeed;
  readonly tasks: TaskRecordStore;
  #closed = false;

  constructor(pool: pg.Pool, logger: Logger, changes: PgChangeFeed) {
    this.#pool = pool;
    this.#logger = logger;
    this.#changes = changes;
    this.tasks = new SqlTaskRecords({
      rows: async (sql, params) => (await pool.query<TaskRow>(sql, params)).rows,
      run: async (sql, params) => (await pool.query(sql, params)).rowCount ?? 0,
    });
  }

  async saveNote(title: string, content: string): Promise<{ note: Note; created: boolean }> {
    assertStorableText('title', title);
    assertStorableText('content', content);
    const now = new Date().toISOString();
    // updated_at never goes below created_at or the previous updated_at, even when clocks
    // of different replicas disagree or two saves share a millisecond.
    const { rows } = await this.#db().query<{ created_at: Date; updated_at: Date; created: boolean }>(
      SAVE_SQL,
      [title, content, foldForSearch(title), foldForSearch(content), now, notifyTitle(title)],
    );
    const row = rows[0]!;
    return {
      note: { title, content, createdAt: iso(row.created_at), updatedAt: iso(row.updated_at) },
      created: row.created,
    };
  }

  async getNote(title: string): Promise<Note | undefined> {
    assertStorableText('title', title);
    const { rows } = await this.#db().query<NoteRow>(
      'SELECT title, content, created_at, updated_at FROM notes WHERE title = $1',
      [title],
    );
    return rows[0] && toNote(rows[0]);
  }

  async listNotes(options: { limit?: number; cursor?: string } = {}): Promise<NotesPage> {
    const limit = clampLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const { rows } = after
      ? await this.#db().query<SummaryRow>(LIST_AFTER_SQL, [after.createdAt, after.title, limit + 1])
      : await this.#db().query<SummaryRow>(LIST_FIRST_SQL, [limit + 1]);
    const notes = rows.slice(0, limit).map(toSummary);
    const last = notes.at(-1);
    return rows.length > limit && last ? { notes, nextCursor: encodeCursor(last) } : { notes };
  }

  async searchNotes(keyword: string, options: { limit?: number } = {}): Promise<SearchResult> {
    assertStorableText('keyword', keyword);
    const limit = clampLimit(options.limit);
    const { rows } = await this.#db().query<SummaryRow>(POSTGRES_SEARCH_SQL, [
      likeContainsPattern(foldForSearch(keyword)),
      limit + 1,
    ]);
    return { notes: rows.slice(0, limit).map(toSummary), truncated: rows.length > limit };
  }

  async deleteNote(title: string): Promise<boolean> {
    assertStorableText('title', title);
    const { rowCount } = await this.#db().query(DELETE_SQL, [title, notifyTitle(title)]);
    return (rowCount ?? 0) > 0;
  }

  async completeTitles(prefix: string, options: { limit?: number } = {}): Promise<TitleCompletion> {
    assertStorableText('prefix', prefix);
    const limit = clampCompletionLimit(options.limit);
    const { lower, upper } = prefixRange(foldForSearch(prefix));
    const bounds = [lower, upper ?? null];
    const { rows } = await this.#pool.query<{ title: string }>(POSTGRES_COMPLETE_SQL, [...bounds, limit]);
    const total =
      rows.length < limit
        ? rows.length
        : Number((await this.#pool.query<{ n: string }>(COMPLETE_COUNT_SQL, bounds)).rows[0]!.n);
    return { titles: rows.map((r) => r.title), total, hasMore: total > rows.length };
  }

  watchNoteChanges(listener: NoteChangeListener): Promise<() => void> {
    return this.#changes.watch(listener);
  }

  async countNotes(): Promise<number> {
    const { rows } = await this.#db().query<{ n: string }>('SELECT count(*) AS n FROM notes');
    return Number(rows[0]!.n);
  }

  async exportNotes(options: { maxBytes: number }): Promise<NotesExport> {
    const client = await this.#pool.connect();
    try {
      // One snapshot for counting, sizing and fetching.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const total = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM notes')).rows[0]!.n);
      // Walk sizes in listing order until the budget runs out, then fetch that prefix whole.
      let fit = 0;
      let used = 0;
      let full = false;
      let after: { created_at: Date; title: string } | undefined;
      while (!full && fit < total) {
        const sizeColumns = 'title, created_at, octet_length(content) AS bytes';
        const { rows } = after
          ? await client.query<{ title: string; created_at: Date; bytes: number }>(
              `SELECT ${sizeColumns} FROM notes
               WHERE created_at <= $1 AND (created_at < $1 OR title > $2)
               ORDER BY created_at DESC, title ASC LIMIT $3`,
              [after.created_at, after.title, EXPORT_SCAN_BATCH],
            )
          : await client.query<{ title: string; created_at: Date; bytes: number }>(
              `SELECT ${sizeColumns} FROM notes ORDER BY created_at DESC, title ASC LIMIT $1`,
              [EXPORT_SCAN_BATCH],
            );
        if (rows.length === 0) break;
        for (const row of rows) {
          if (used + row.bytes > options.maxBytes) {
            full = true;
            break;
          }
          used += row.bytes;
          fit++;
        }
        after = rows.at(-1);
      }
      const rows =
        fit === 0
          ? []
          : (
              await client.query<NoteRow>(
                'SELECT title, content, created_at, updated_at FROM notes ORDER BY created_at DESC, title ASC LIMIT $1',
                [fit],
              )
            ).rows;
      await client.query('COMMIT');
      return { notes: rows.map(toNote), total, truncated: fit < total };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async upsertCatalogEntry(entry: CatalogEntry): Promise<void> {
    await this.#db().query(
      `INSERT INTO catalog (name, entry, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (name) DO UPDATE SET entry = EXCLUDED.entry, updated_at = EXCLUDED.updated_at`,
      [entry.name, JSON.stringify(entry)],
    );
  }

  async listCatalog(): Promise<CatalogEntry[]> {
    const { rows } = await this.#db().query<{ entry: string }>('SELECT entry FROM catalog ORDER BY name ASC');
    return rows.map((r) => JSON.parse(r.entry) as CatalogEntry);
  }

  async getIdempotentResult(key: string): Promise<IdempotentResult | undefined> {
    const { rows } = await this.#db().query<{
      key: string;
      tool: string;
      result: string;
      recorded_at: Date;
      fingerprint: string | null;
    }>('SELECT key, tool, result, recorded_at, fingerprint FROM idempotency WHERE key = $1', [key]);
    const row = rows[0];
    return row && idempotentResultFromRow({ ...row, recordedAt: iso(row.recorded_at) });
  }

  async recordIdempotentResult(
    key: string,
    tool: string,
    result: unknown,
    fingerprint?: string,
  ): Promise<void> {
    await this.#db().query(
      `INSERT INTO idempotency (key, tool, result, recorded_at, fingerprint) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (key) DO NOTHING`,
      [key, tool, JSON.stringify(result ?? null), new Date().toISOString(), fingerprint ?? null],
    );
  }

  async pruneIdempotentResults(before: Date): Promise<number> {
    const { rowCount } = await this.#db().query('DELETE FROM idempotency WHERE recorded_at < $1', [
      before.toISOString(),
    ]);
    return rowCount ?? 0;
  }

  /** The current transaction's client inside atomically(), the pool otherwise. */
  #db(): Pick<pg.Pool, 'query'> {
    return this.#transaction.getStore() ?? this.#pool;
  }

  async atomically<T>(work: () => Promise<T>): Promise<T> {
    if (this.#transaction.getStore()) return work();
    const client = await this.#pool.connect();
    let broken = false;
    // The database may drop the connection while `work` runs between two queries: pg then emits
    // 'error' on the checked-out client, which must be heard (unheard, it ends the process).
    const dropped = (err: Error) => {
      broken = true;
      this.#logger.warn({ err: { message: err.message } }, 'notes database connection lost in a transaction');
    };
    client.on('error', dropped);
    try {
      await client.query('BEGIN');
      const result = await this.#transaction.run(client, work);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection the database dropped goes away instead of back into the pool.
      if (!broken) {
        broken = await client.query('ROLLBACK').then(
          () => false,
          () => true,
        );
      }
      throw err;
    } finally {
      client.off('error', dropped);
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#changes.close();
    await this.#pool.end();
    this.#logger.info({ backend: 'postgres' }, 'notes store closed');
  }

  /** Runs one statement and returns its rows (tests and benchmarks: query plans, ANALYZE). */
  async query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.#db().query(sql, params)).rows;
  }

  /** Inserts new notes (timestamps as given) in one statement, announcing nothing; a taken title fails it. */
  async bulkInsert(notes: Note[]): Promise<void> {
    await this.#db().query(
      `INSERT INTO notes (title, content, title_folded, content_folded, created_at, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])`,
      [
        notes.map((n) => n.title),
        notes.map((n) => n.content),
        notes.map((n) => foldForSearch(n.title)),
        notes.map((n) => foldForSearch(n.content)),
        notes.map((n) => n.createdAt),
        notes.map((n) => n.updatedAt),
      ],
    );
  }
}

function asPostgresStore(store: NotesStore): PostgresNotesStore {
  if (!(store instanceof PostgresNotesStore)) throw new Error('not a PostgreSQL notes store');
  return store;
}

/** Runs raw SQL on a store opened here. For tests and benchmarks only; not part of NotesStore. */
export function postgresQuery(
  store: NotesStore,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  return asPostgresStore(store).query(sql, params);
}

/** Seeds notes (timestamps as given) in one statement. For tests and benchmarks only. */
export function bulkInsertPostgresNotes(store: NotesStore, notes: Note[]): Promise<void> {
  return asPostgresStore(store).bulkInsert(notes);
}
