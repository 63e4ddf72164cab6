/**
 * Chooses the notes backend from configuration: PostgreSQL when a database URL is given
 * (required for more than one server replica), else the embedded SQLite file. The SQLite module
 * is loaded only when chosen: `node:sqlite` exists only on newer Node, and an entrypoint must
 * get to say which Node it needs (src/node-version.ts) before anything fails to load.
 */
import type { Logger } from '../observability/logger.ts';
import { openPostgresNotesStore } from './postgres.ts';
import type { NotesStore } from './store.ts';

export interface OpenNotesStoreOptions {
  /** SQLite file path or `:memory:`; used when `databaseUrl` is absent. */
  notesDb: string;
  databaseUrl: string | undefined;
  logger: Logger;
}

export async function openNotesStore(options: OpenNotesStoreOptions): Promise<NotesStore> {
  if (options.databaseUrl)
    return openPostgresNotesStore({ url: options.databaseUrl, logger: options.logger });
  const { openSqliteNotesStore } = await import('./sqlite.ts');
  return openSqliteNotesStore({ path: options.notesDb, logger: options.logger });
}
