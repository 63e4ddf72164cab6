/**
 * The task records contract, run against both backends (a temporary SQLite file and a fresh
 * PostgreSQL database): insert, scoped listing in pages, the first terminal status wins,
 * start marking, TTL visibility and pruning, and records surviving a reopen of the store.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPostgresNotesStore } from '../../src/notes/postgres.ts';
import { openSqliteNotesStore } from '../../src/notes/sqlite.ts';
import type { NotesStore } from '../../src/notes/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { InvalidTaskCursorError } from '../../src/tasks/records.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const logger = silentLogger();
const T0 = 1_700_000_000_000;
const newTask = (taskId: string, scope = 'token:a', now = T0, ttlMs = 60_000) => ({
  taskId,
  scope,
  tool: 'server_initialize',
  sessionId: 's1',
  ttlMs,
  pollIntervalMs: 500,
  now,
});

function taskRecordsContract(name: string, open: () => Promise<NotesStore>) {
  describe(name, () => {
    let store: NotesStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('creates a working task and reads it back', async () => {
      const created = await store.tasks.insert(newTask('t-create'));
      expect(created).toMatchObject({
        taskId: 't-create',
        scope: 'token:a',
        status: 'working',
        ttlMs: 60_000,
        pollIntervalMs: 500,
        createdAt: T0,
        expiresAt: T0 + 60_000,
        sessionId: 's1',
      });
      expect(created.startedAt).toBeUndefined();
      expect(await store.tasks.get('t-create', T0 + 1)).toEqual(created);
    });

    it('lets the first terminal status win', async () => {
      await store.tasks.insert(newTask('t-race'));
      const result = { content: [{ type: 'text', text: 'ok' }] };
      expect(await store.tasks.finish('t-race', 'cancelled', 'by client', undefined, T0 + 5)).toBe(true);
      expect(await store.tasks.finish('t-race', 'completed', undefined, result, T0 + 6)).toBe(false);
      const now = await store.tasks.get('t-race', T0 + 7);
      expect(now).toMatchObject({ status: 'cancelled', statusMessage: 'by client', updatedAt: T0 + 5 });
      expect(now?.result).toBeUndefined();
    });

    it('marks a task started once, and not once it ended', async () => {
      await store.tasks.insert(newTask('t-start'));
      expect((await store.tasks.markStarted('t-start', T0 + 10))?.startedAt).toBe(T0 + 10);
      expect((await store.tasks.markStarted('t-start', T0 + 20))?.startedAt).toBe(T0 + 10);
      await store.tasks.insert(newTask('t-ended'));
      await store.tasks.finish('t-ended', 'cancelled', undefined, undefined, T0 + 1);
      expect((await store.tasks.markStarted('t-ended', T0 + 2))?.startedAt).toBeUndefined();
    });

    it('stores a completed result whole', async () => {
      await store.tasks.insert(newTask('t-result'));
      const result = { content: [{ type: 'text', text: 'done' }], structuredContent: { n: 1, s: 'ü' } };
      await store.tasks.finish('t-result', 'completed', undefined, result, T0 + 3);
      expect((await store.tasks.get('t-result', T0 + 4))?.result).toEqual(result);
    });

    it("lists one scope's tasks oldest first, in pages", async () => {
      for (let i = 0; i < 5; i++)
        await store.tasks.insert(newTask(`p-${i}`, 'session:paged', T0 + 100 + (i % 3)));
      await store.tasks.insert(newTask('p-other', 'session:other', T0 + 100));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.tasks.list('session:paged', T0 + 200, 2, cursor);
        expect(page.tasks.length).toBeLessThanOrEqual(2);
        seen.push(...page.tasks.map((t) => t.taskId));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(['p-0', 'p-3', 'p-1', 'p-4', 'p-2']);
      await expect(store.tasks.list('session:paged', T0, 2, 'not-a-cursor')).rejects.toBeInstanceOf(
        InvalidTaskCursorError,
      );
    });

    it('hides expired tasks and prunes them', async () => {
      await store.tasks.insert(newTask('t-ttl', 'session:ttl', T0, 1_000));
      expect(await store.tasks.get('t-ttl', T0 + 999)).toBeDefined();
      expect(await store.tasks.get('t-ttl', T0 + 1_000)).toBeUndefined();
      expect((await store.tasks.list('session:ttl', T0 + 1_000, 10)).tasks).toEqual([]);
      expect(await store.tasks.prune(T0 + 1_000)).toBeGreaterThanOrEqual(1);
      expect(await store.tasks.get('t-ttl', T0)).toBeUndefined();
    });

    it('keeps tasks across a reopen of the store', async () => {
      await store.tasks.insert(newTask('t-durable'));
      await store.close();
      store = await open();
      expect((await store.tasks.get('t-durable', T0 + 1))?.status).toBe('working');
    });
  });
}

const dir = makeTempDir('task-records-');
taskRecordsContract('SQLite', () => openSqliteNotesStore({ path: join(dir, 'notes.db'), logger }));

let db: TestDatabase | undefined;
const databaseUrl = inject('databaseUrl');
taskRecordsContract('PostgreSQL', async () => {
  db ??= await createTestDatabase(databaseUrl);
  return openPostgresNotesStore({ url: db.url, logger });
});
afterAll(async () => {
  await db?.drop();
});
