/**
 * The MCP conversation with a freshly spawned server: the initialize handshake, then
 * tools/list (always; a server without the tools capability may answer "method not found")
 * and resources/list and prompts/list where the server advertises them, following
 * `nextCursor` pages. This is the only place server_initialize touches the SDK's Client.
 * Every request is bounded by the caller's signal, not by the SDK's default timeout.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListToolsResultSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { CatalogEntry } from '../../notes/store.ts';
import type { ChildStdioTransport } from './stdio-transport.ts';

export type HandshakeResult = Required<
  Pick<CatalogEntry, 'protocolVersion' | 'serverInfo' | 'capabilities' | 'tools'>
> &
  Pick<CatalogEntry, 'resources' | 'prompts'>;

/** Pages followed per listing at most; a server that keeps paging beyond this is cut off. */
export const MAX_LIST_PAGES = 100;
/** Larger than any allowed init timeout: the caller's signal is what ends a request. */
const REQUEST_TIMEOUT_MS = 2_147_483_647;

export async function handshakeAndList(
  transport: ChildStdioTransport,
  signal: AbortSignal,
  clientInfo: { name: string; version: string },
  /** Called once the initialize handshake is done, before the listing. */
  onHandshake?: (serverInfo: { name: string; version: string }, protocolVersion: string) => void,
): Promise<HandshakeResult> {
  const client = new Client(clientInfo, { capabilities: {} });
  // Errors also reach the pending requests; logging them here would only duplicate them.
  client.onerror = () => {};
  const options: RequestOptions = { signal, timeout: REQUEST_TIMEOUT_MS };
  try {
    await client.connect(transport, options);
    const serverInfo = client.getServerVersion();
    const capabilities = client.getServerCapabilities() ?? {};
    if (serverInfo === undefined) throw new Error('the server sent no serverInfo');
    onHandshake?.(
      { name: serverInfo.name, version: serverInfo.version },
      transport.protocolVersion ?? 'unknown',
    );

    const tools = await listToolsTolerant(client, options, capabilities.tools !== undefined);
    const resources = capabilities.resources
      ? await listPages(async (cursor) => {
          const page = await client.request(
            { method: 'resources/list', params: cursor ? { cursor } : {} },
            ListResourcesResultSchema,
            options,
          );
          return { items: page.resources, nextCursor: page.nextCursor };
        })
      : undefined;
    const prompts = capabilities.prompts
      ? await listPages(async (cursor) => {
          const page = await client.request(
            { method: 'prompts/list', params: cursor ? { cursor } : {} },
            ListPromptsResultSchema,
            options,
          );
          return { items: page.prompts, nextCursor: page.nextCursor };
        })
      : undefined;

    return {
      protocolVersion: transport.protocolVersion ?? 'unknown',
      serverInfo: { ...serverInfo },
      capabilities: { ...capabilities },
      tools: tools.map((t) => withDescription({ name: t.name }, t.description)),
      ...(resources && {
        resources: resources.map((r) => withDescription({ uri: r.uri, name: r.name }, r.description)),
      }),
      ...(prompts && { prompts: prompts.map((p) => withDescription({ name: p.name }, p.description)) }),
    };
  } finally {
    await client.close().catch(() => {});
  }
}

async function listToolsTolerant(client: Client, options: RequestOptions, advertised: boolean) {
  try {
    return await listPages(async (cursor) => {
      // A raw request: Client.listTools would also compile every tool's output schema.
      const page = await client.request(
        { method: 'tools/list', params: cursor ? { cursor } : {} },
        ListToolsResultSchema,
        options,
      );
      return { items: page.tools, nextCursor: page.nextCursor };
    });
  } catch (err) {
    if (!advertised && err instanceof McpError && err.code === ErrorCode.MethodNotFound) return [];
    throw err;
  }
}

/** Every item of a paginated listing, stopping at a repeated cursor or after MAX_LIST_PAGES. */
export async function listPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await fetchPage(cursor);
    items.push(...result.items);
    if (!result.nextCursor || seen.has(result.nextCursor)) break;
    seen.add(result.nextCursor);
    cursor = result.nextCursor;
  }
  return items;
}

function withDescription<T extends object>(
  item: T,
  description: string | undefined,
): T & { description?: string } {
  return description === undefined ? item : { ...item, description };
}
