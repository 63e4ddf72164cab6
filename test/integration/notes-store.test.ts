/**
 * Runs the one NotesStore contract against every backend: SQLite on a temp file and in
 * memory, and PostgreSQL on a database of this file's own (a schema per test inside it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openNotesStore } from '../../src/notes/open.ts';
import { NOTIFY_TITLE_MAX_BYTES } from '../../src/notes/pg-change-feed.ts';
import {
  bulkInsertPostgresNotes,
  openPostgresNotesStore,
  POSTGRES_COMPLETE_SQL,
  POSTGRES_SEARCH_SQL,
  postgresQuery,
} from '../../src/notes/postgres.ts';
import { likeContainsPattern, prefixRange } from '../../src/notes/search.ts';
import {
  bulkInsertSqliteNotes,
  ftsPhrase,
  openSqliteNotesStore,
  SQLITE_COMPLETE_SQL,
  SQLITE_SEARCH_INDEXED_SQL,
  sqliteQuery,
} from '../../src/notes/sqlite.ts';
import type { NotesStore } from '../../src/notes/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  collectChanges,
  describeNotesStoreContract,
  type NotesStoreBackend,
} from '../helpers/notes-store-contract.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const logger = silentLogger();

const sqlitePlan = (store: Parameters<typeof sqliteQuery>[0], keyword: string) =>
  (
    sqliteQuery(
      store,
      `EXPLAIN QUERY PLAN ${SQLITE_SEARCH_INDEXED_SQL}`,
      ftsPhrase(keyword.toLowerCase()),
      51,
    ) as Array<{
      detail: string;
    }>
  )
    .map((r) => r.detail)
    .join('\n');

const sqliteBackend = (path: () => string, persistent: boolean): NotesStoreBackend => ({
  persistent,
  async freshData() {
    const file = path();
    return { open: () => openSqliteNotesStore({ path: file, logger }) };
  },
  seed: async (store, notes) => bulkInsertSqliteNotes(store, notes),
  analyze: async () => {},
  searchPlan: async (store, keyword) => sqlitePlan(store, keyword),
  indexedPlan: /SCAN notes_fts VIRTUAL TABLE INDEX \d+:M/,
  // A scan of the notes table itself (the index-backed plan only looks notes up by rowid).
  fullScanPlan: /\bSCAN (notes|n)(\s|$)/m,
  completionPlan: async (store, prefix) => {
    const { lower, upper } = prefixRange(prefix.toLowerCase());
    return (
      sqliteQuery(store, `EXPLAIN QUERY PLAN ${SQLITE_COMPLETE_SQL}`, lower, upper!, 100) as Array<{
        detail: string;
      }>
    )
      .map((r) => r.detail)
      .join('\n');
  },
  completionIndexedPlan:
    /SEARCH notes USING (COVERING )?INDEX notes_title_folded \(title_folded>\? AND title_folded<\?\)/,
  sharedChanges: false,
});

/** After an upgrade to schema 3, a title saved before it completes case-insensitively. */
async function expectUpgradedTitlesComplete(store: NotesStore): Promise<void> {
  expect(await store.completeTitles('ALPHA')).toEqual({ titles: ['Alpha plan'], total: 1, hasMore: false });
}

/** Step 4: the MCP tasks table (src/tasks/records.ts) takes a record. */
async function expectTasksTable(store: NotesStore): Promise<void> {
  const now = Date.now();
  await store.tasks.insert({
    taskId: 'upgraded',
    scope: 's',
    tool: 't',
    ttlMs: 60_000,
    pollIntervalMs: 1_000,
    now,
  });
  expect((await store.tasks.get('upgraded', now))?.status).toBe('working');
}

describe('SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'notes-store-'));
  let n = 0;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  describeNotesStoreContract('SQLite file', () =>
    sqliteBackend(() => join(dir, `t${++n}`, 'notes.db'), true),
  );

  it('creates the parent directory and runs in WAL mode', async () => {
    const path = join(dir, 'nested', 'deeper', 'notes.db');
    const store = await openSqliteNotesStore({ path, logger });
    try {
      expect(sqliteQuery(store, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
      expect(sqliteQuery(store, 'PRAGMA user_version')).toEqual([{ user_version: 4 }]);
    } finally {
      await store.close();
    }
  });

  it("fails a write that fails in a turn's batch alone: the turn's other saves and idempotency records commit", async () => {
    const store = await openSqliteNotesStore({ path: join(dir, 'group', 'notes.db'), logger });
    try {
      // A refusal the batch meets mid-way, as a disk-full or a constraint would be.
      sqliteQuery(
        store,
        `CREATE TEMP TRIGGER refuse_boom BEFORE INSERT ON notes WHEN new.title = 'boom'
         BEGIN SELECT RAISE(ABORT, 'boom refused'); END`,
      );
      const settled = await Promise.allSettled([
        store.saveNote('first', 'a'),
        store.recordIdempotentResult('save_note:k1', 'save_note', { content: [] }, 'f1'),
        store.saveNote('boom', 'b'),
        store.saveNote('last', 'c'),
        store.recordIdempotentResult('save_note:k2', 'save_note', { content: [] }, 'f2'),
      ]);
      expect(settled.map((s) => s.status)).toEqual([
        'fulfilled',
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(/boom refused/);
      expect((await store.listNotes()).notes.map((n) => n.title).sort()).toEqual(['first', 'last']);
      expect((await store.getIdempotentResult('save_note:k1'))?.fingerprint).toBe('f1');
      expect((await store.getIdempotentResult('save_note:k2'))?.fingerprint).toBe('f2');
    } finally {
      await store.close();
    }
  });

  it('upgrades a version-2 database (idempotency fingerprints) to 4: existing titles complete, tasks table', async () => {
    const path = join(dir, 'upgrade', 'notes.db');
    const store = await openSqliteNotesStore({ path, logger });
    await store.saveNote('Alpha plan', 'x');
    // Back to what schema version 2 left: no folded title, no index on it, no tasks table.
    sqliteQuery(store, 'DROP TABLE tasks');
    sqliteQuery(store, 'DROP INDEX notes_title_folded');
    sqliteQuery(store, 'ALTER TABLE notes DROP COLUMN title_folded');
    sqliteQuery(store, 'PRAGMA user_version = 2');
    await store.close();

    const upgraded = await openSqliteNotesStore({ path, logger });
    try {
      expect(sqliteQuery(upgraded, 'PRAGMA user_version')).toEqual([{ user_version: 4 }]);
      await expectUpgradedTitlesComplete(upgraded);
      await expectTasksTable(upgraded);
    } finally {
      await upgraded.close();
    }
  });
});

describeNotesStoreContract('SQLite :memory:', () => sqliteBackend(() => ':memory:', false));

describe('PostgreSQL', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  const schemas: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // Installed once in public, where every test schema's search_path also looks.
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  /** Each test gets a schema of its own in this file's database, chosen through search_path. */
  const freshSchemaUrl = async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    await admin.query(`CREATE SCHEMA ${schema}`);
    const url = new URL(db.url);
    url.searchParams.set('options', `-c search_path=${schema},public`);
    return url.toString();
  };

  describeNotesStoreContract('PostgreSQL', () => ({
    persistent: true,
    async freshData() {
      const url = await freshSchemaUrl();
      return { open: () => openPostgresNotesStore({ url, logger, poolSize: 4 }) };
    },
    seed: (store, notes) => bulkInsertPostgresNotes(store, notes),
    analyze: async (store) => {
      await postgresQuery(store, 'VACUUM ANALYZE notes');
    },
    searchPlan: async (store, keyword) =>
      (
        await postgresQuery(store, `EXPLAIN ${POSTGRES_SEARCH_SQL}`, [
          likeContainsPattern(keyword.toLowerCase()),
          51,
        ])
      )
        .map((r) => String(r['QUERY PLAN']))
        .join('\n'),
    indexedPlan:
      /Bitmap Index Scan on notes_content_trgm[\s\S]*Bitmap Index Scan on notes_title_trgm|Bitmap Index Scan on notes_title_trgm[\s\S]*Bitmap Index Scan on notes_content_trgm/,
    fullScanPlan: /Seq Scan on notes|Index Scan using notes_listing/,
    completionPlan: async (store, prefix) => {
      const { lower, upper } = prefixRange(prefix.toLowerCase());
      return (await postgresQuery(store, `EXPLAIN ${POSTGRES_COMPLETE_SQL}`, [lower, upper ?? null, 100]))
        .map((r) => String(r['QUERY PLAN']))
        .join('\n');
    },
    // The planner may read the index directly or through a bitmap; both use it (neither is a scan of notes).
    completionIndexedPlan:
      /Index (Only )?Scan using notes_title_prefix|Bitmap Index Scan on notes_title_prefix/,
    sharedChanges: true,
  }));

  it('orders titles by code point whatever the database collation', async () => {
    const url = await freshSchemaUrl();
    const store = await openPostgresNotesStore({ url, logger });
    try {
      const rows = await postgresQuery(
        store,
        `SELECT attname, collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
         WHERE attrelid = 'notes'::regclass AND attname IN ('title', 'title_folded', 'content_folded') ORDER BY attname`,
      );
      expect(rows).toEqual([
        { attname: 'content_folded', collname: 'C' },
        { attname: 'title', collname: 'C' },
        { attname: 'title_folded', collname: 'C' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('upgrades a version-2 schema (idempotency fingerprints) to 4: the title prefix index, tasks table', async () => {
    const url = await freshSchemaUrl();
    const store = await openPostgresNotesStore({ url, logger, poolSize: 2 });
    await store.saveNote('Alpha plan', 'x');
    await postgresQuery(store, 'DROP TABLE tasks');
    await postgresQuery(store, 'DROP INDEX notes_title_prefix');
    await postgresQuery(store, 'UPDATE notes_schema_version SET version = 2');
    await store.close();

    const upgraded = await openPostgresNotesStore({ url, logger, poolSize: 2 });
    try {
      expect(await postgresQuery(upgraded, 'SELECT version FROM notes_schema_version')).toEqual([
        { version: 4 },
      ]);
      const indexes = await postgresQuery(
        upgraded,
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'notes_title_prefix'",
      );
      expect(indexes).toHaveLength(1);
      await expectUpgradedTitlesComplete(upgraded);
      await expectTasksTable(upgraded);
    } finally {
      await upgraded.close();
    }
  });

  it('reconnects a lost change feed, announces a resync, and hears changes again', async () => {
    const url = await freshSchemaUrl();
    const store = await openPostgresNotesStore({ url, logger, poolSize: 2 });
    try {
      const feed = await collectChanges(store);
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE application_name = 'mcp-hybrid-notes-listen' AND datname = current_database()`,
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(await feed.waitFor(1)).toEqual([{ kind: 'resync' }]);
      await store.saveNote('After reconnect', 'x');
      expect((await feed.waitFor(2))[1]).toEqual({ kind: 'created', title: 'After reconnect' });
    } finally {
      await store.close();
    }
  });

  it('announces a resync for a title too long to carry in a NOTIFY payload, and hears only its own schema', async () => {
    const store = await openPostgresNotesStore({ url: await freshSchemaUrl(), logger, poolSize: 2 });
    const neighbour = await openPostgresNotesStore({ url: await freshSchemaUrl(), logger, poolSize: 2 });
    try {
      const feed = await collectChanges(store);
      await neighbour.saveNote('Other schema', 'x');
      await store.saveNote('y'.repeat(NOTIFY_TITLE_MAX_BYTES + 1), 'x');
      await store.saveNote('Short', 'x');
      expect(await feed.waitFor(2)).toEqual([{ kind: 'resync' }, { kind: 'created', title: 'Short' }]);
    } finally {
      await neighbour.close();
      await store.close();
    }
  });

  it('fails to open with a clear error when the database is unreachable, without leaking the URL', async () => {
    const url = 'postgres://someone:s3cret-pw@127.0.0.1:1/nowhere';
    const err = await openPostgresNotesStore({ url, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).not.toContain('s3cret-pw');
  });
});

describe('openNotesStore', () => {
  it('opens PostgreSQL when a database URL is set and SQLite otherwise', async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = mkdtempSync(join(tmpdir(), 'notes-open-'));
    try {
      const pgStore = await openNotesStore({ notesDb: join(dir, 'unused.db'), databaseUrl: db.url, logger });
      expect(pgStore.backend).toBe('postgres');
      await pgStore.close();
      const sqliteStore = await openNotesStore({
        notesDb: join(dir, 'notes.db'),
        databaseUrl: undefined,
        logger,
      });
      expect(sqliteStore.backend).toBe('sqlite');
      await sqliteStore.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
