/**
 * Resources: `notes://all` (every note as one markdown document, bounded in size),
 * the template `notes://{title}` (one note), and `servers://catalog` (what
 * server_initialize recorded).
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { allNotesMarkdown, noteMarkdown } from '../notes/format.ts';
import type { NotesStore } from '../notes/store.ts';

/** JSON-RPC error code for an unknown resource (MCP specification). */
const RESOURCE_NOT_FOUND = -32002;
const TEMPLATE_LIST_LIMIT = 100;

export interface ResourcesDeps {
  store: NotesStore;
  resourceMaxBytes: number;
}

export function registerResources(server: McpServer, deps: ResourcesDeps): void {
  const { store } = deps;

  server.registerResource(
    'all-notes',
    'notes://all',
    {
      title: 'All notes',
      description: `All notes as one markdown document (newest first, cut at ${deps.resourceMaxBytes} bytes of content with a marker).`,
      mimeType: 'text/markdown',
    },
    async (uri) => {
      const exported = await store.exportNotes({ maxBytes: deps.resourceMaxBytes });
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: allNotesMarkdown(exported) }] };
    },
  );

  server.registerResource(
    'note',
    new ResourceTemplate(NOTE_TEMPLATE, {
      list: async () => {
        const page = await store.listNotes({ limit: TEMPLATE_LIST_LIMIT });
        return {
          resources: page.notes.map((n) => ({
            uri: noteUri(n.title),
            name: n.title,
            mimeType: 'text/markdown',
          })),
        };
      },
    }),
    { title: 'One note', description: 'One note by title, as markdown.', mimeType: 'text/markdown' },
    async (uri, variables) => {
      const raw = variables.title;
      const encoded = Array.isArray(raw) ? raw.join('/') : (raw ?? '');
      let title: string;
      try {
        title = decodeURIComponent(encoded);
      } catch {
        throw new McpError(
          ErrorCode.InvalidParams,
          `Invalid resource URI ${uri.href}: the title is not valid percent-encoded UTF-8`,
        );
      }
      const note = await store.getNote(title);
      if (!note)
        throw new McpError(RESOURCE_NOT_FOUND, `Resource ${uri.href} not found: no note titled '${title}'`);
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: noteMarkdown(note) }] };
    },
  );

  server.registerResource(
    'server-catalog',
    'servers://catalog',
    {
      title: 'Initialized MCP servers',
      description: 'The latest server_initialize outcome per server name (JSON).',
      mimeType: 'application/json',
    },
    async (uri) => {
      const entries = await store.listCatalog();
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: 'application/json',
            text: JSON.stringify({ servers: entries }, null, 2),
          },
        ],
      };
    },
  );
}

export const NOTE_TEMPLATE = 'notes://{title}';

export function noteUri(title: string): string {
  return `notes://${encodeURIComponent(title)}`;
}
