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
import {
  bulkInsertPostgresNotes,
  openPostgresNotesStore,
  POSTGRES_SEARCH_SQL,
  postgresQuery,
} from '../../src/notes/postgres.ts';
import { likeContainsPattern } from '../../src/notes/search.ts';
import {
  bulkInsertSqliteNotes,
  ftsPhrase,
  openSqliteNotesStore,
  SQLITE_SEARCH_INDEXED_SQL,
  sqliteQuery,
} from '../../src/notes/sqlite.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { describeNotesStoreContract, type NotesStoreBackend } from '../helpers/notes-store-contract.ts';
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
});

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
      expect(sqliteQuery(store, 'PRAGMA user_version')).toEqual([{ user_version: 2 }]);
    } finally {
      await store.close();
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
