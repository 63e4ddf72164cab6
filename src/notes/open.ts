/**
 * Chooses the notes backend from configuration: PostgreSQL when a database URL is given
 * (required for more than one server replica), else the embedded SQLite file.
 */
import type { Logger } from '../observability/logger.ts';
import { openPostgresNotesStore } from './postgres.ts';
import { openSqliteNotesStore } from './sqlite.ts';
import type { NotesStore } from './store.ts';

export interface OpenNotesStoreOptions {
  /** SQLite file path or `:memory:`; used when `databaseUrl` is absent. */
  notesDb: string;
  databaseUrl: string | undefined;
  logger: Logger;
}

export function openNotesStore(options: OpenNotesStoreOptions): Promise<NotesStore> {
  if (options.databaseUrl)
    return openPostgresNotesStore({ url: options.databaseUrl, logger: options.logger });
  return openSqliteNotesStore({ path: options.notesDb, logger: options.logger });
}
