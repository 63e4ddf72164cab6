/**
 * The five notes tools of the seed tutorial (save, list, read, search, delete), each with
 * a zod input schema the LLM reads, a declared output schema, seed-compatible text and
 * matching `structuredContent`.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import {
  listNotesText,
  noMatchText,
  noteDeletedText,
  noteNotFoundText,
  noteSavedText,
  readNoteText,
  searchNotesText,
} from '../notes/format.ts';
import { DEFAULT_LIST_LIMIT, InvalidCursorError, MAX_LIST_LIMIT, type NotesStore } from '../notes/store.ts';
import { type ToolContext, type ToolRuntime, toolError } from './tool-runtime.ts';

export interface NotesToolsDeps {
  store: NotesStore;
  runtime: ToolRuntime;
  /** From notesToolSchemas, built once and shared by every server. */
  schemas: NotesToolSchemas;
}

export const MAX_TITLE_LENGTH = 200;
export const MAX_KEYWORD_LENGTH = 200;
const DEFAULT_SEARCH_LIMIT = 50;

const NO_NUL = (s: string) => !s.includes('\0');

/** A note title as every tool and prompt takes it. */
export const titleSchema = z
  .string({ error: 'title must be a string' })
  .min(1, { error: 'title must not be empty' })
  .max(MAX_TITLE_LENGTH, { error: `title must be at most ${MAX_TITLE_LENGTH} characters` })
  .refine((s) => s.trim() !== '', { error: 'title must not be only whitespace' })
  .refine(NO_NUL, { error: 'title must not contain NUL characters (U+0000)' });

/** A search keyword as search_notes and summarise_notes take it. */
export const keywordSchema = z
  .string({ error: 'keyword must be a string' })
  .min(1, { error: 'keyword must not be empty' })
  .max(MAX_KEYWORD_LENGTH, { error: `keyword must be at most ${MAX_KEYWORD_LENGTH} characters` })
  .refine(NO_NUL, { error: 'keyword must not contain NUL characters (U+0000)' });

/** An optional page or result size, 1 to MAX_LIST_LIMIT. */
const limitSchema = (description: string) =>
  z.number().int().min(1).max(MAX_LIST_LIMIT).optional().describe(description);

const noteSummarySchema = z.object({
  title: z.string(),
  createdAt: z.string().describe('ISO-8601 UTC timestamp'),
  updatedAt: z.string().describe('ISO-8601 UTC timestamp'),
});

const text = (value: string) => [{ type: 'text' as const, text: value }];

/** The not-found tool error, also told to the client's log as a warning. */
function notFound(ctx: ToolContext, title: string): CallToolResult {
  ctx.clientLog.warning(noteNotFoundText(title), { title });
  return toolError(noteNotFoundText(title));
}

/** The tools' zod schemas: built once per factory, not once per server (stateless mode builds a server per request). */
export function notesToolSchemas(maxBytes: number) {
  return {
    save: {
      input: z.object({
        title: titleSchema.describe('The title of the note (used as identifier), 1-200 characters'),
        content: z
          .string({ error: 'content must be a string' })
          .refine((s) => Buffer.byteLength(s, 'utf8') <= maxBytes, {
            error: `content must be at most ${maxBytes} bytes (UTF-8)`,
          })
          .refine(NO_NUL, { error: 'content must not contain NUL characters (U+0000)' })
          .describe('The content of the note'),
      }),
      output: z.object({
        title: z.string(),
        created: z.boolean().describe('true when the note is new, false when it replaced one'),
        createdAt: z.string(),
        updatedAt: z.string(),
      }),
    },
    list: {
      input: z.object({
        limit: limitSchema(`How many notes to return (1-${MAX_LIST_LIMIT}, default ${DEFAULT_LIST_LIMIT})`),
        cursor: z.string().max(1024).optional().describe('The nextCursor of a previous list_notes call'),
      }),
      output: z.object({
        notes: z.array(noteSummarySchema),
        nextCursor: z.string().optional(),
      }),
    },
    read: {
      input: z.object({ title: titleSchema.describe('The title of the note to read') }),
      output: z.object({
        title: z.string(),
        content: z.string(),
        createdAt: z.string(),
        updatedAt: z.string(),
      }),
    },
    search: {
      input: z.object({
        keyword: keywordSchema.describe('The keyword to search for (case-insensitive)'),
        limit: limitSchema(
          `Maximum matches to return (1-${MAX_LIST_LIMIT}, default ${DEFAULT_SEARCH_LIMIT})`,
        ),
      }),
      output: z.object({
        keyword: z.string(),
        notes: z.array(noteSummarySchema),
        truncated: z.boolean().describe('true when more notes matched than limit'),
      }),
    },
    delete: {
      input: z.object({ title: titleSchema.describe('The title of the note to delete') }),
      output: z.object({ title: z.string(), deleted: z.literal(true) }),
    },
  };
}
export type NotesToolSchemas = ReturnType<typeof notesToolSchemas>;

export function registerNotesTools(server: McpServer, deps: NotesToolsDeps): void {
  const { store, runtime, schemas } = deps;

  server.registerTool(
    'save_note',
    {
      title: 'Save note',
      description:
        'Save a note with a title and content. Saving to an existing title replaces its content ' +
        '(the original creation date is kept).',
      inputSchema: schemas.save.input,
      outputSchema: schemas.save.output,
      annotations: { idempotentHint: true, destructiveHint: false },
    },
    runtime.instrument('save_note', async ({ title, content }, ctx) => {
      const { note, created } = await store.saveNote(title, content);
      ctx.clientLog.info(`Note '${title}' ${created ? 'created' : 'updated'}`, {
        title,
        bytes: Buffer.byteLength(content, 'utf8'),
      });
      return {
        content: text(noteSavedText(title)),
        structuredContent: { title, created, createdAt: note.createdAt, updatedAt: note.updatedAt },
      };
    }),
  );

  server.registerTool(
    'list_notes',
    {
      title: 'List notes',
      description:
        'List saved notes with their titles and creation dates, newest first. ' +
        'Results are paginated: when nextCursor is returned, call again with it for more.',
      inputSchema: schemas.list.input,
      outputSchema: schemas.list.output,
      annotations: { readOnlyHint: true },
    },
    runtime.instrument('list_notes', async ({ limit, cursor }, ctx) => {
      try {
        const page = await store.listNotes({ limit: limit ?? DEFAULT_LIST_LIMIT, cursor });
        ctx.clientLog.debug(`Listed ${page.notes.length} notes`, {
          count: page.notes.length,
          more: page.nextCursor !== undefined,
        });
        return {
          content: text(listNotesText(page.notes, page.nextCursor)),
          structuredContent: page.nextCursor
            ? { notes: page.notes, nextCursor: page.nextCursor }
            : { notes: page.notes },
        };
      } catch (err) {
        if (err instanceof InvalidCursorError) {
          ctx.clientLog.warning('list_notes refused an invalid cursor');
          return toolError('cursor is not valid: pass the nextCursor of a previous list_notes call.');
        }
        throw err;
      }
    }),
  );

  server.registerTool(
    'read_note',
    {
      title: 'Read note',
      description: 'Read the content of a specific note, with its creation and update dates.',
      inputSchema: schemas.read.input,
      outputSchema: schemas.read.output,
      annotations: { readOnlyHint: true },
    },
    runtime.instrument('read_note', async ({ title }, ctx) => {
      const note = await store.getNote(title);
      if (!note) return notFound(ctx, title);
      ctx.clientLog.debug(`Read note '${title}'`, { title });
      return { content: text(readNoteText(note)), structuredContent: { ...note } };
    }),
  );

  server.registerTool(
    'search_notes',
    {
      title: 'Search notes',
      description:
        'Search notes by keyword: a case-insensitive substring match on title or content. ' +
        'Returns matching titles, newest first.',
      inputSchema: schemas.search.input,
      outputSchema: schemas.search.output,
      annotations: { readOnlyHint: true },
    },
    runtime.instrument('search_notes', async ({ keyword, limit }, ctx) => {
      const found = await store.searchNotes(keyword, { limit: limit ?? DEFAULT_SEARCH_LIMIT });
      ctx.clientLog.debug(`${found.notes.length} notes match '${keyword}'`, {
        matches: found.notes.length,
        truncated: found.truncated,
      });
      return {
        content: text(
          found.notes.length === 0
            ? noMatchText(keyword)
            : searchNotesText(keyword, found.notes, found.truncated),
        ),
        structuredContent: { keyword, notes: found.notes, truncated: found.truncated },
      };
    }),
  );

  server.registerTool(
    'delete_note',
    {
      title: 'Delete note',
      description: 'Delete a note by title.',
      inputSchema: schemas.delete.input,
      outputSchema: schemas.delete.output,
      annotations: { destructiveHint: true, idempotentHint: false },
    },
    runtime.instrument('delete_note', async ({ title }, ctx) => {
      const deleted = await store.deleteNote(title);
      if (!deleted) return notFound(ctx, title);
      ctx.clientLog.info(`Note '${title}' deleted`, { title });
      return { content: text(noteDeletedText(title)), structuredContent: { title, deleted: true } };
    }),
  );
}
