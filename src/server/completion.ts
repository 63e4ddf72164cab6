/**
 * `completion/complete`: argument completion for the `notes://{title}` template and for the
 * prompts' arguments. Each completable argument names a completer; titles come from the
 * store's index-backed prefix match (case-insensitive, at most 100, with `total` and
 * `hasMore`). An unknown template or prompt is a -32602 error; an argument that has no
 * completer completes to nothing.
 *
 * We answer completion ourselves rather than through the SDK's `completable()` because its
 * answer can only count the values it was handed, and an honest `total` needs the store.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CompleteRequestSchema,
  type CompleteResult,
  ErrorCode,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { NotesStore } from '../notes/store.ts';
import { MAX_TITLE_LENGTH } from './notes-tools.ts';

export type Completer = (value: string) => Promise<CompleteResult['completion']>;

/** Completers by reference: `resource:<uriTemplate>` or `prompt:<name>`, then argument name. */
export type CompletionTable = Map<string, Record<string, Completer>>;

export const resourceRef = (uriTemplate: string) => `resource:${uriTemplate}`;
export const promptRef = (name: string) => `prompt:${name}`;

const NOTHING = { values: [], total: 0, hasMore: false };

/** Note titles starting with `value`, case-insensitively. */
export function titleCompleter(store: Pick<NotesStore, 'completeTitles'>): Completer {
  return async (value) => {
    // No title is this long or holds a NUL (which PostgreSQL could not even compare).
    if (value.length > MAX_TITLE_LENGTH || value.includes('\0')) return NOTHING;
    const { titles, total, hasMore } = await store.completeTitles(value);
    return { values: titles, total, hasMore };
  };
}

export function registerCompletions(server: McpServer, table: CompletionTable): void {
  server.server.registerCapabilities({ completions: {} });
  server.server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params;
    const key = ref.type === 'ref/resource' ? resourceRef(ref.uri) : promptRef(ref.name);
    const completers = table.get(key);
    if (!completers) {
      throw new McpError(
        ErrorCode.InvalidParams,
        ref.type === 'ref/resource'
          ? `Unknown resource template: ${ref.uri}`
          : `Unknown prompt: ${(ref as { name: string }).name}`,
      );
    }
    const complete = Object.hasOwn(completers, argument.name) ? completers[argument.name] : undefined;
    return { completion: complete ? await complete(argument.value) : NOTHING };
  });
}
