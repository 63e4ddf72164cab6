/**
 * The notes store contract. Two backends implement it (SQLite via node:sqlite,
 * PostgreSQL via pg) and one contract test suite runs against both.
 *
 * Invariants every backend keeps:
 * - titles are unique; `saveNote` upserts by title, keeps `createdAt`, moves `updatedAt`;
 * - `listNotes` is newest first by (createdAt desc, title asc) and paginates with an opaque cursor;
 * - `searchNotes` is a case-insensitive substring match on title or content (the seed's semantics),
 *   served by an index (FTS5 trigram / pg_trgm) for keywords of 3+ characters;
 * - timestamps are ISO-8601 UTC strings with millisecond precision;
 * - `completeTitles` is a case-insensitive prefix match on the folded title, served by an
 *   index range, in (folded title, title) order;
 * - every committed note change reaches the `watchNoteChanges` listeners (PostgreSQL: of every
 *   store on the same database, through LISTEN/NOTIFY; SQLite: of this store, in process).
 */
import type { TaskRecordStore } from '../tasks/records.ts';

export interface Note {
  title: string;
  content: string;
  createdAt: string;
  updatedAt: string;
}

export interface NoteSummary {
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface NotesPage {
  notes: NoteSummary[];
  /** Present when more notes follow; pass back as `cursor` to get them. */
  nextCursor?: string;
}

export interface SearchResult {
  notes: NoteSummary[];
  /** True when more notes matched than `limit`. */
  truncated: boolean;
}

export interface NotesExport {
  /** Notes in listing order, whole, until adding the next would pass `maxBytes` of content. */
  notes: Note[];
  /** Number of notes in the store. */
  total: number;
  truncated: boolean;
}

export interface TitleCompletion {
  /** Matching titles, at most the requested limit. */
  titles: string[];
  /** How many titles match in all. */
  total: number;
  hasMore: boolean;
}

/**
 * A committed change to one note, or `resync`: changes may have been missed (the change feed
 * reconnected), so a listener should treat every note as possibly changed.
 */
export type NoteChange = { kind: 'created' | 'updated' | 'deleted'; title: string } | { kind: 'resync' };
export type NoteChangeListener = (change: NoteChange) => void;

/** One `server_initialize` outcome, kept by server name (latest wins). */
export interface CatalogEntry {
  name: string;
  status: 'ready' | 'failed';
  command: string;
  args: string[];
  protocolVersion?: string;
  serverInfo?: { name: string; version: string; [k: string]: unknown };
  capabilities?: Record<string, unknown>;
  tools: Array<{ name: string; description?: string }>;
  resources?: Array<{ uri: string; name: string; description?: string }>;
  prompts?: Array<{ name: string; description?: string }>;
  durationMs: number;
  error?: string;
  initializedAt: string;
}

/** A tool result recorded under an idempotency key, so a replayed job does not repeat its effect. */
export interface IdempotentResult {
  key: string;
  tool: string;
  result: unknown;
  recordedAt: string;
  /** Digest of the request the key was first used for (absent on records from before it was kept). */
  fingerprint?: string;
}

/** An `idempotency` table row as both backends read it (recorded_at already ISO text). */
export interface IdempotencyRow {
  key: string;
  tool: string;
  result: string;
  recordedAt: string;
  fingerprint: string | null;
}

export function idempotentResultFromRow(row: IdempotencyRow): IdempotentResult {
  return {
    key: row.key,
    tool: row.tool,
    result: JSON.parse(row.result),
    recordedAt: row.recordedAt,
    ...(row.fingerprint !== null && { fingerprint: row.fingerprint }),
  };
}

export interface NotesStore {
  readonly backend: 'sqlite' | 'postgres';
  saveNote(title: string, content: string): Promise<{ note: Note; created: boolean }>;
  getNote(title: string): Promise<Note | undefined>;
  listNotes(options?: { limit?: number; cursor?: string }): Promise<NotesPage>;
  searchNotes(keyword: string, options?: { limit?: number }): Promise<SearchResult>;
  deleteNote(title: string): Promise<boolean>;
  countNotes(): Promise<number>;
  /** Titles starting with `prefix`, case-insensitively; `limit` is 1..MAX_COMPLETION_LIMIT (default). */
  completeTitles(prefix: string, options?: { limit?: number }): Promise<TitleCompletion>;
  /**
   * Calls `listener` after every committed note change; resolves once changes are being
   * watched (for PostgreSQL: once LISTEN is active). The returned function stops watching.
   */
  watchNoteChanges(listener: NoteChangeListener): Promise<() => void>;
  exportNotes(options: { maxBytes: number }): Promise<NotesExport>;

  upsertCatalogEntry(entry: CatalogEntry): Promise<void>;
  listCatalog(): Promise<CatalogEntry[]>;

  /** The recorded result for `key`, if any. */
  getIdempotentResult(key: string): Promise<IdempotentResult | undefined>;
  /** Records `result` under `key` unless one is already there (first writer wins). */
  recordIdempotentResult(key: string, tool: string, result: unknown, fingerprint?: string): Promise<void>;
  /** Forgets keys recorded before `before`; returns how many were removed. */
  pruneIdempotentResults(before: Date): Promise<number>;

  /** MCP task records (src/tasks/), in the same database. */
  readonly tasks: TaskRecordStore;

  /**
   * Runs `work` so that the store writes it makes commit together or not at all (PostgreSQL:
   * one transaction; SQLite: as they come, one process owns the file). The tool runtime puts a
   * tool's effect and its idempotency record in one unit: a database that goes away between
   * the two must not leave an effect without its record, or a retry would repeat the effect.
   */
  atomically<T>(work: () => Promise<T>): Promise<T>;
  /** Throws when the backing database is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Thrown for text no backend can store as given: a NUL character (PostgreSQL text cannot hold
 * U+0000, so SQLite refuses it too and both backends behave the same). Names the field.
 */
export class InvalidNoteInputError extends Error {
  override name = 'InvalidNoteInputError';
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** Throws InvalidNoteInputError when `value` holds a NUL character. */
export function assertStorableText(field: string, value: string): void {
  if (value.includes('\0')) {
    throw new InvalidNoteInputError(field, `${field} must not contain NUL characters (U+0000)`);
  }
}

/** Thrown for a cursor this store did not produce. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;
/** The most completion values one answer carries (the MCP specification's cap). */
export const MAX_COMPLETION_LIMIT = 100;
