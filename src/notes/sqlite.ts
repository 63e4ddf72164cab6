/**
 * The embedded notes store: SQLite through `node:sqlite`. The driver is synchronous, so every
 * call is one short statement or transaction, and searches that must visit many notes run
 * in chunks with an event-loop turn between them. File databases run in WAL mode with a
 * busy timeout, so readers never block the writer and a second process waits instead of failing.
 * Saves are group-committed (group-commit.ts): those of one event-loop turn share a transaction,
 * each in its own savepoint, and resolve once it committed.
 *
 * Search: an FTS5 `trigram` index over the notes' title and content *folded in JavaScript*
 * (see search.ts), kept in sync by triggers that call the `notes_fold` function this
 * connection registers. The index is contentless (it stores trigrams only; the text stays
 * in `notes`) and case-sensitive over already-folded text, so a phrase match is exactly the
 * seed's substring semantics. Keywords shorter than a trigram, and keywords so common that
 * the index matches more than SEARCH_INDEX_PROBE notes, are answered by a scan in listing
 * order that applies the same predicate in JavaScript and stops at `limit + 1` matches.
 *
 * Because the triggers need `notes_fold`, writes to `notes` must go through this module
 * (a plain `sqlite3` shell can read the database but its writes to `notes` fail loudly).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Logger } from '../observability/logger.ts';
import { SQLITE_TASKS_MIGRATION, type TaskRecordStore, type TaskRow } from '../tasks/records.ts';
import { SqlTaskRecords } from '../tasks/sql-records.ts';
import { NoteChangeListeners } from './change-listeners.ts';
import { clampCompletionLimit, clampLimit, compareListing, decodeCursor, encodeCursor } from './cursor.ts';
import { GroupCommit, type Settled } from './group-commit.ts';
import {
  codePointLength,
  foldForSearch,
  INDEXED_KEYWORD_MIN_CHARS,
  noteMatches,
  prefixRange,
} from './search.ts';
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

export interface SqliteNotesStoreOptions {
  /** A file path (its directory is created) or `:memory:`. */
  path: string;
  logger: Logger;
  /** How long a statement waits for another process's write lock. */
  busyTimeoutMs?: number;
}

/** Schema steps, applied in order; `PRAGMA user_version` records how many ran. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    content_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX notes_listing ON notes (created_at DESC, title ASC);
  CREATE VIRTUAL TABLE notes_fts USING fts5(
    title, content,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
  );
  CREATE TRIGGER notes_fts_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, title, content) VALUES (new.id, notes_fold(new.title), notes_fold(new.content));
  END;
  CREATE TRIGGER notes_fts_update AFTER UPDATE OF title, content ON notes BEGIN
    DELETE FROM notes_fts WHERE rowid = old.id;
    INSERT INTO notes_fts (rowid, title, content) VALUES (new.id, notes_fold(new.title), notes_fold(new.content));
  END;
  CREATE TRIGGER notes_fts_delete AFTER DELETE ON notes BEGIN
    DELETE FROM notes_fts WHERE rowid = old.id;
  END;
  CREATE TABLE catalog (
    name TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    result TEXT NOT NULL,
    recorded_at TEXT NOT NULL
  );
  CREATE INDEX idempotency_recorded ON idempotency (recorded_at);
  `,
  // The request a key was first used for: a reuse with other arguments is refused.
  `ALTER TABLE idempotency ADD COLUMN fingerprint TEXT;`,
  // Title completion: a case-insensitive prefix is a range over the folded title.
  `
  ALTER TABLE notes ADD COLUMN title_folded TEXT NOT NULL DEFAULT '';
  UPDATE notes SET title_folded = notes_fold(title);
  CREATE INDEX notes_title_folded ON notes (title_folded, title);
  `,
  // MCP tasks (src/tasks/records.ts).
  SQLITE_TASKS_MIGRATION,
];

/** The FTS5 query for a literal substring: one quoted phrase, inner quotes doubled. */
export function ftsPhrase(foldedKeyword: string): string {
  return `"${foldedKeyword.replaceAll('"', '""')}"`;
}

/**
 * An index-backed search: up to `?` matching notes, newest rowid first (FTS5 serves the
 * phrase and the order; no table scan, no sort). Rowid order is not listing order, so
 * the store sorts what it gets; see `searchNotes` for when the probe comes back full.
 */
export const SQLITE_SEARCH_INDEXED_SQL = `
  SELECT n.title, n.created_at, n.updated_at
  FROM notes_fts CROSS JOIN notes AS n ON n.id = notes_fts.rowid
  WHERE notes_fts MATCH ?
  ORDER BY notes_fts.rowid DESC
  LIMIT ?`;

/** Title completion: an index range over the folded title (see prefixRange). */
export const SQLITE_COMPLETE_SQL = `
  SELECT title FROM notes WHERE title_folded >= ? AND title_folded < ?
  ORDER BY title_folded, title LIMIT ?`;
const COMPLETE_COUNT_SQL = 'SELECT count(*) AS n FROM notes WHERE title_folded >= ? AND title_folded < ?';
const COMPLETE_UNBOUNDED_SQL = `
  SELECT title FROM notes WHERE title_folded >= ? ORDER BY title_folded, title LIMIT ?`;
const COMPLETE_UNBOUNDED_COUNT_SQL = 'SELECT count(*) AS n FROM notes WHERE title_folded >= ?';

/** One chunk of a scan in listing order, each note flagged by the exact (JavaScript) predicate. */
const SEARCH_SCAN_FIRST_SQL = `
  SELECT title, created_at, updated_at, notes_contains(title, content, ?) AS hit FROM notes
  ORDER BY created_at DESC, title ASC LIMIT ?`;
const SEARCH_SCAN_NEXT_SQL = `
  SELECT title, created_at, updated_at, notes_contains(title, content, ?) AS hit FROM notes
  WHERE created_at <= ? AND (created_at < ? OR title > ?)
  ORDER BY created_at DESC, title ASC LIMIT ?`;

/**
 * A keyword the index matches in more notes than this is common: walking notes newest
 * first meets `limit` matches sooner than fetching and sorting every match would.
 */
const SEARCH_INDEX_PROBE = 2_000;
/**
 * Notes per scan chunk. node:sqlite is synchronous, so a scan that has to visit many notes
 * (a rare one- or two-character keyword) gives the event loop a turn between chunks.
 */
const SEARCH_SCAN_CHUNK = 2_000;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface NoteRow {
  title: string;
  content: string;
  created_at: string;
  updated_at: string;
}
type SummaryRow = Omit<NoteRow, 'content'>;

const toNote = (r: NoteRow): Note => ({
  title: r.title,
  content: r.content,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
const toSummary = (r: SummaryRow): NoteSummary => ({
  title: r.title,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const EXPORT_SCAN_BATCH = 1_000;

export async function openSqliteNotesStore(options: SqliteNotesStoreOptions): Promise<NotesStore> {
  const { path, logger } = options;
  const inMemory = path === ':memory:';
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
    if (!inMemory) {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
    }
    db.function('notes_fold', { deterministic: true }, (text) => foldForSearch(String(text)));
    db.function('notes_contains', { deterministic: true }, (title, content, keyword) =>
      noteMatches(String(title), String(content), String(keyword)) ? 1 : 0,
    );
    migrate(db, logger);
  } catch (err) {
    db.close();
    throw err;
  }
  logger.info({ backend: 'sqlite', path }, 'notes store opened');
  return new SqliteNotesStore(db, logger);
}

function migrate(db: DatabaseSync, logger: Logger): void {
  const version = () =>
    Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  if (version() > MIGRATIONS.length) {
    throw new Error(
      `notes database schema version ${version()} is newer than this server supports (${MIGRATIONS.length})`,
    );
  }
  while (version() < MIGRATIONS.length) {
    // IMMEDIATE takes the write lock first, so two processes opening at once migrate in turn.
    db.exec('BEGIN IMMEDIATE');
    try {
      const current = version();
      if (current < MIGRATIONS.length) {
        db.exec(MIGRATIONS[current]!);
        db.exec(`PRAGMA user_version = ${current + 1}`);
        logger.info({ backend: 'sqlite', schemaVersion: current + 1 }, 'notes schema migrated');
      }
      db.exec('COMMIT');
    } catch (err) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The failure already ended the transaction.
      }
      throw err;
    }
  }
}

/** The writes that go through group commit: saves, and the idempotency records of tool calls. */
type Write =
  | { kind: 'save'; title: string; content: string }
  | {
      kind: 'record';
      key: string;
      tool: string;
      result: string;
      recordedAt: string;
      fingerprint: string | null;
    };
type SavedNote = { note: Note; created: boolean };
type Written = SavedNote | undefined;

/** Now, but never earlier than any of `floors` (a clock stepping back, two saves in one millisecond). */
function timestampNotBefore(...floors: string[]): string {
  let now = new Date().toISOString();
  for (const floor of floors) if (floor > now) now = floor;
  return now;
}

class SqliteNotesStore implements NotesStore {
  readonly backend = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #logger: Logger;
  readonly #statements = new Map<string, StatementSync>();
  readonly #writes = new GroupCommit<Write, Written>((batch) => this.#writeBatch(batch));
  /** In process only: another process writing the same file is not seen (use PostgreSQL for replicas). */
  readonly #listeners: NoteChangeListeners;
  readonly tasks: TaskRecordStore;
  #closed = false;

  constructor(db: DatabaseSync, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
    this.#listeners = new NoteChangeListeners(logger);
    const sqlite = (sql: string) => this.#sql(sql.replace(/\$(\d+)/g, '?$1'));
    this.tasks = new SqlTaskRecords({
      rows: async (sql, params) => sqlite(sql).all(...(params as SQLInputValue[])) as unknown as TaskRow[],
      run: async (sql, params) => Number(sqlite(sql).run(...(params as SQLInputValue[])).changes),
    });
  }

  #sql(sql: string): StatementSync {
    if (this.#closed) throw new Error('notes store is closed');
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #transaction<T>(mode: 'DEFERRED' | 'IMMEDIATE', work: () => T): T {
    this.#sql(`BEGIN ${mode}`).run();
    try {
      const result = work();
      this.#sql('COMMIT').run();
      return result;
    } catch (err) {
      try {
        this.#sql('ROLLBACK').run();
      } catch {
        // The failure already ended the transaction.
      }
      throw err;
    }
  }

  async saveNote(title: string, content: string): Promise<{ note: Note; created: boolean }> {
    assertStorableText('title', title);
    assertStorableText('content', content);
    const saved = (await this.#writes.submit({ kind: 'save', title, content })) as SavedNote;
    this.#listeners.emit({ kind: saved.created ? 'created' : 'updated', title });
    return saved;
  }

  /**
   * The writes of one event-loop turn in one transaction (see group-commit.ts). They run as they
   * come; only when one of them throws is that transaction rolled back and the batch run again
   * with each write in a savepoint of its own, so that one fails alone. Writes seldom fail, and a
   * savepoint and its release cost about as much as the save they would guard.
   */
  #writeBatch(batch: Write[]): Settled<Written>[] {
    if (batch.length === 1) {
      return [{ ok: true, value: this.#transaction('IMMEDIATE', () => this.#write(batch[0]!)) }];
    }
    let writeFailed = false;
    try {
      return this.#transaction('IMMEDIATE', () =>
        batch.map((write): Settled<Written> => {
          try {
            return { ok: true, value: this.#write(write) };
          } catch (error) {
            writeFailed = true;
            throw error;
          }
        }),
      );
    } catch (error) {
      // BEGIN or COMMIT failed: the batch fails as a whole (group-commit.ts).
      if (!writeFailed) throw error;
    }
    return this.#transaction('IMMEDIATE', () =>
      batch.map((write): Settled<Written> => {
        this.#sql('SAVEPOINT write').run();
        try {
          const value = this.#write(write);
          this.#sql('RELEASE write').run();
          return { ok: true, value };
        } catch (error) {
          this.#sql('ROLLBACK TO write').run();
          this.#sql('RELEASE write').run();
          return { ok: false, error };
        }
      }),
    );
  }

  /** One write; the caller holds the transaction. */
  #write(write: Write): Written {
    if (write.kind === 'save') return this.#save(write.title, write.content);
    this.#sql(
      `INSERT INTO idempotency (key, tool, result, recorded_at, fingerprint) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO NOTHING`,
    ).run(write.key, write.tool, write.result, write.recordedAt, write.fingerprint);
    return undefined;
  }

  /** Inserts or replaces one note; the caller holds the transaction. */
  #save(title: string, content: string): SavedNote {
    const bytes = Buffer.byteLength(content, 'utf8');
    const existing = this.#sql('SELECT created_at, updated_at FROM notes WHERE title = ?').get(title) as
      | { created_at: string; updated_at: string }
      | undefined;
    if (existing) {
      const updatedAt = timestampNotBefore(existing.created_at, existing.updated_at);
      this.#sql('UPDATE notes SET content = ?, content_bytes = ?, updated_at = ? WHERE title = ?').run(
        content,
        bytes,
        updatedAt,
        title,
      );
      return { note: { title, content, createdAt: existing.created_at, updatedAt }, created: false };
    }
    const now = new Date().toISOString();
    this.#sql(
      'INSERT INTO notes (title, title_folded, content, content_bytes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(title, foldForSearch(title), content, bytes, now, now);
    return { note: { title, content, createdAt: now, updatedAt: now }, created: true };
  }

  async getNote(title: string): Promise<Note | undefined> {
    assertStorableText('title', title);
    const row = this.#sql('SELECT title, content, created_at, updated_at FROM notes WHERE title = ?').get(
      title,
    ) as NoteRow | undefined;
    return row && toNote(row);
  }

  async listNotes(options: { limit?: number; cursor?: string } = {}): Promise<NotesPage> {
    const limit = clampLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const rows = (after
      ? this.#sql(
          `SELECT title, created_at, updated_at FROM notes
             WHERE created_at <= ? AND (created_at < ? OR title > ?)
             ORDER BY created_at DESC, title ASC LIMIT ?`,
        ).all(after.createdAt, after.createdAt, after.title, limit + 1)
      : this.#sql(
          'SELECT title, created_at, updated_at FROM notes ORDER BY created_at DESC, title ASC LIMIT ?',
        ).all(limit + 1)) as unknown as SummaryRow[];
    const notes = rows.slice(0, limit).map(toSummary);
    const last = notes.at(-1);
    return rows.length > limit && last ? { notes, nextCursor: encodeCursor(last) } : { notes };
  }

  async searchNotes(keyword: string, options: { limit?: number } = {}): Promise<SearchResult> {
    assertStorableText('keyword', keyword);
    const limit = clampLimit(options.limit);
    const folded = foldForSearch(keyword);
    // A NUL would end the FTS5 query string early; such keywords take the (exact) scan.
    const indexed = codePointLength(folded) >= INDEXED_KEYWORD_MIN_CHARS && !folded.includes('\0');
    const found = indexed
      ? await this.#searchIndexed(folded, limit + 1)
      : await this.#searchScan(folded, limit + 1);
    return { notes: found.slice(0, limit), truncated: found.length > limit };
  }

  /** The newest `wanted` notes containing `folded` (3+ characters), through the trigram index. */
  async #searchIndexed(folded: string, wanted: number): Promise<NoteSummary[]> {
    const rows = this.#sql(SQLITE_SEARCH_INDEXED_SQL).all(
      ftsPhrase(folded),
      SEARCH_INDEX_PROBE,
    ) as unknown as SummaryRow[];
    if (rows.length < SEARCH_INDEX_PROBE) return rows.map(toSummary).sort(compareListing).slice(0, wanted);
    return this.#searchScan(folded, wanted);
  }

  /** Notes in listing order, chunk by chunk, until `wanted` match or none are left. */
  async #searchScan(folded: string, wanted: number): Promise<NoteSummary[]> {
    const found: NoteSummary[] = [];
    let after: SummaryRow | undefined;
    for (;;) {
      const rows = (after === undefined
        ? this.#sql(SEARCH_SCAN_FIRST_SQL).all(folded, SEARCH_SCAN_CHUNK)
        : this.#sql(SEARCH_SCAN_NEXT_SQL).all(
            folded,
            after.created_at,
            after.created_at,
            after.title,
            SEARCH_SCAN_CHUNK,
          )) as unknown as Array<SummaryRow & { hit: number }>;
      for (const row of rows) {
        if (!row.hit) continue;
        found.push(toSummary(row));
        if (found.length >= wanted) return found;
      }
      if (rows.length < SEARCH_SCAN_CHUNK) return found;
      after = rows.at(-1);
      await yieldToEventLoop();
    }
  }

  async deleteNote(title: string): Promise<boolean> {
    assertStorableText('title', title);
    const deleted = Number(this.#sql('DELETE FROM notes WHERE title = ?').run(title).changes) > 0;
    if (deleted) this.#listeners.emit({ kind: 'deleted', title });
    return deleted;
  }

  async completeTitles(prefix: string, options: { limit?: number } = {}): Promise<TitleCompletion> {
    assertStorableText('prefix', prefix);
    const limit = clampCompletionLimit(options.limit);
    const { lower, upper } = prefixRange(foldForSearch(prefix));
    const bounds: SQLInputValue[] = upper === undefined ? [lower] : [lower, upper];
    const rows = this.#sql(upper === undefined ? COMPLETE_UNBOUNDED_SQL : SQLITE_COMPLETE_SQL).all(
      ...bounds,
      limit,
    ) as unknown as Array<{ title: string }>;
    const total =
      rows.length < limit
        ? rows.length
        : Number(
            (
              this.#sql(upper === undefined ? COMPLETE_UNBOUNDED_COUNT_SQL : COMPLETE_COUNT_SQL).get(
                ...bounds,
              ) as { n: number }
            ).n,
          );
    return { titles: rows.map((r) => r.title), total, hasMore: total > rows.length };
  }

  async watchNoteChanges(listener: NoteChangeListener): Promise<() => void> {
    return this.#listeners.add(listener);
  }

  async countNotes(): Promise<number> {
    return Number((this.#sql('SELECT count(*) AS n FROM notes').get() as { n: number }).n);
  }

  async exportNotes(options: { maxBytes: number }): Promise<NotesExport> {
    return this.#transaction('DEFERRED', () => {
      const total = Number((this.#sql('SELECT count(*) AS n FROM notes').get() as { n: number }).n);
      // Walk sizes in listing order until the budget runs out, then fetch that prefix whole.
      let fit = 0;
      let used = 0;
      let full = false;
      let after: { created_at: string; title: string } | undefined;
      while (!full && fit < total) {
        const sizes = (after
          ? this.#sql(
              `SELECT title, created_at, content_bytes FROM notes
                 WHERE created_at <= ? AND (created_at < ? OR title > ?)
                 ORDER BY created_at DESC, title ASC LIMIT ?`,
            ).all(after.created_at, after.created_at, after.title, EXPORT_SCAN_BATCH)
          : this.#sql(
              'SELECT title, created_at, content_bytes FROM notes ORDER BY created_at DESC, title ASC LIMIT ?',
            ).all(EXPORT_SCAN_BATCH)) as unknown as Array<{
          title: string;
          created_at: string;
          content_bytes: number;
        }>;
        if (sizes.length === 0) break;
        for (const row of sizes) {
          if (used + Number(row.content_bytes) > options.maxBytes) {
            full = true;
            break;
          }
          used += Number(row.content_bytes);
          fit++;
        }
        after = sizes.at(-1);
      }
      const rows =
        fit === 0
          ? []
          : (this.#sql(
              'SELECT title, content, created_at, updated_at FROM notes ORDER BY created_at DESC, title ASC LIMIT ?',
            ).all(fit) as unknown as NoteRow[]);
      return { notes: rows.map(toNote), total, truncated: fit < total };
    });
  }

  async upsertCatalogEntry(entry: CatalogEntry): Promise<void> {
    this.#sql(
      `INSERT INTO catalog (name, entry, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET entry = excluded.entry, updated_at = excluded.updated_at`,
    ).run(entry.name, JSON.stringify(entry), new Date().toISOString());
  }

  async listCatalog(): Promise<CatalogEntry[]> {
    const rows = this.#sql('SELECT entry FROM catalog ORDER BY name ASC').all() as unknown as Array<{
      entry: string;
    }>;
    return rows.map((r) => JSON.parse(r.entry) as CatalogEntry);
  }

  async getIdempotentResult(key: string): Promise<IdempotentResult | undefined> {
    const row = this.#sql(
      'SELECT key, tool, result, recorded_at, fingerprint FROM idempotency WHERE key = ?',
    ).get(key) as
      | { key: string; tool: string; result: string; recorded_at: string; fingerprint: string | null }
      | undefined;
    return row && idempotentResultFromRow({ ...row, recordedAt: row.recorded_at });
  }

  /** Through group commit, like saves: under load a turn's records share one transaction with its saves. */
  async recordIdempotentResult(
    key: string,
    tool: string,
    result: unknown,
    fingerprint?: string,
  ): Promise<void> {
    await this.#writes.submit({
      kind: 'record',
      key,
      tool,
      result: JSON.stringify(result ?? null),
      recordedAt: new Date().toISOString(),
      fingerprint: fingerprint ?? null,
    });
  }

  async pruneIdempotentResults(before: Date): Promise<number> {
    return Number(
      this.#sql('DELETE FROM idempotency WHERE recorded_at < ?').run(before.toISOString()).changes,
    );
  }

  /** One synchronous connection shared by concurrent calls: a transaction would span theirs too. */
  atomically<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  async ping(): Promise<void> {
    this.#sql('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#statements.clear();
    this.#db.close();
    this.#logger.info({ backend: 'sqlite' }, 'notes store closed');
  }

  /** Runs one statement and returns its rows (tests and benchmarks: query plans). */
  query(sql: string, ...params: SQLInputValue[]): unknown[] {
    return this.#sql(sql).all(...params);
  }

  /** Inserts new notes in one transaction (seeding for benchmarks and tests; no change is announced); a taken title fails it. */
  bulkInsert(notes: Note[]): void {
    this.#transaction('IMMEDIATE', () => {
      const insert = this.#sql(
        'INSERT INTO notes (title, title_folded, content, content_bytes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const n of notes) {
        insert.run(
          n.title,
          foldForSearch(n.title),
          n.content,
          Buffer.byteLength(n.content, 'utf8'),
          n.createdAt,
          n.updatedAt,
        );
      }
    });
  }
}

function asSqliteStore(store: NotesStore): SqliteNotesStore {
  if (!(store instanceof SqliteNotesStore)) throw new Error('not a SQLite notes store');
  return store;
}

/** Runs raw SQL on a store opened here. For tests and benchmarks only; not part of NotesStore. */
export function sqliteQuery(store: NotesStore, sql: string, ...params: SQLInputValue[]): unknown[] {
  return asSqliteStore(store).query(sql, ...params);
}

/** Seeds notes (timestamps as given) in one transaction. For tests and benchmarks only. */
export function bulkInsertSqliteNotes(store: NotesStore, notes: Note[]): void {
  asSqliteStore(store).bulkInsert(notes);
}
